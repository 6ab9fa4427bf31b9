"""`zkml-tracker publish`: asv's site for each framework, and the comparison page over them."""
from __future__ import annotations

import argparse
from pathlib import Path

from tracker.config import Config
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.publish.merge import merge_into
from tracker.publish.service import publish_all


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish the static site from the recorded results", description=__doc__)
    p.add_argument("--merge", nargs="+", type=Path, metavar="DIR",
                   help="first merge results made elsewhere (CI matrix jobs, shards) into the results dir")
    p.set_defaults(func=main)


@holding_lock("publish")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    if args.merge:
        merged = merge_into(layout.results, args.merge)
        print(f"merged {len(args.merge)} shard(s): {', '.join(merged) or 'nothing'}")
    return 1 if publish_all(config, layout) else 0
