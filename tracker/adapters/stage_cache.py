"""What a pure stage made, kept by what it was made from: its data, and the files later stages read.

A stage is pure when its output is a function of its inputs and the build alone: ezkl's key setup (the
same compiled circuit and SRS give the same keys), the accuracy pass (a witness is the circuit's quantized
forward pass). When the same build meets the same inputs again (the other variant calibrated to the same
circuit, a rerun with --force), the stage is read back instead of run. Files are kept as hard links (a
proving key can be 4.6 GB), so an entry costs no space while the work dir still holds the same file;
the oldest entries go once the cache holds more than BUDGET_BYTES.

Layout: `<cache>/stage-data/<key>/data.json` and the product files beside it, each entry made in a
temporary directory and renamed into place, so a half-made entry is never read.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Sequence

BUDGET_BYTES = 16 * 2**30


def entry_for(cache_dir: Path, parts: Sequence[str | Path | bytes]) -> Path:
    """The entry of these inputs: strings name the build and stage, files count by content, bytes as given."""
    digest = hashlib.sha256()
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part if isinstance(part, bytes) else Path(part).read_bytes()
        digest.update(raw + b"\0")
    return cache_dir / "stage-data" / digest.hexdigest()[:40]


def recall(entry: Path, products: Sequence[Path]) -> dict[str, Any] | None:
    """The entry's data with its files put back at `products`, or None if it has no complete entry."""
    try:
        data = json.loads((entry / "data.json").read_text())
        if not isinstance(data, dict):
            return None
        for target in products:
            place(entry / target.name, target)
        os.utime(entry)
    except (OSError, ValueError):
        return None
    return data


def remember(entry: Path, data: dict[str, Any], products: Sequence[Path]) -> None:
    """Keep `data` and the files at `products` as `entry`; then hold the cache to its budget."""
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.mkdir(parents=True)
        for source in products:
            place(source, tmp / source.name)
        (tmp / "data.json").write_text(json.dumps(data))
        os.rename(tmp, entry)
    except OSError:  # another job kept the same entry first, or the disk is full: the run goes on
        shutil.rmtree(tmp, ignore_errors=True)
        return
    prune(entry.parent, keep=entry)


def place(source: Path, target: Path) -> None:
    """`target` becomes `source`'s file: a hard link (a copy across file systems), never written in place."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def prune(root: Path, keep: Path, budget: int = BUDGET_BYTES) -> list[Path]:
    """Drop the least recently used entries past `budget` bytes (never `keep`); the ones dropped."""
    entries = []
    for path in root.iterdir():
        if path.name.startswith("."):  # an entry another job is making
            continue
        try:  # other jobs add and drop entries meanwhile
            files = list(path.iterdir()) if path.is_dir() else [path]
            entries.append((path.stat().st_mtime, sum(f.stat().st_size for f in files), path))
        except OSError:
            continue
    dropped, total = [], 0
    for _, size, path in sorted(entries, key=lambda e: (e[2] != keep, -e[0])):
        total += size
        if total > budget and path != keep:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            dropped.append(path)
    return dropped
