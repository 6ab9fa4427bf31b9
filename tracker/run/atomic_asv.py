"""asv's command line with its JSON files written atomically: `python -m tracker.run.atomic_asv ARGS...`.

asv writes its result files (and machine.json, benchmarks.json) in place: a tracker killed, or a disk
filling, while asv writes one leaves it torn, and asv then stops on it in every later run and publish.
Here asv's one JSON writer (`asv.util.write_json`) is replaced by one that writes the same text to a
temporary file beside the target and renames it over (tracker/fsutil.py), so a result file is the old
one or the new one, never half of one. The format is asv's own, byte for byte.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tracker.fsutil import atomic_write_text


def write_json(path, data, api_version=None, compact=False) -> None:
    """`asv.util.write_json`'s contract (same arguments, same text), written atomically."""
    if api_version is not None:
        data = dict(data)
        data["version"] = api_version
    text = json.dumps(data) if compact else json.dumps(data, indent=4, sort_keys=True)
    atomic_write_text(Path(os.path.abspath(path)), text)


def main(argv: list[str]) -> int:
    import asv.main
    from asv import util

    util.write_json = write_json
    sys.argv = ["asv", *argv]
    asv.main.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
