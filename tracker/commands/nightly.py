"""`zkml-tracker nightly`: fetch, run what is new, publish, report. Meant for cron or a CI schedule.

Idempotent: with nothing new it builds nothing, runs nothing and publishes nothing. One nightly, run or
publish at a time (tracker/lock.py); a second one exits at once with status 75. Otherwise the exit status
is the report's: 0 nothing new regressed, 3 new regressions, 4 new regressions but the alert failed.
"""
from __future__ import annotations

import argparse
import os

from tracker.commands import publish, regressions
from tracker.commands.run import print_summary, request_from
from tracker.config import Config
from tracker.fsutil import atomic_write_json
from tracker.lock import holding_lock
from tracker.report.regressions import find_regressions, key, previously_reported
from tracker.run.asv import Layout
from tracker.run.runner import run as run_frameworks

def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nightly", help="run new revisions, publish, report regressions", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME")
    p.add_argument("--suite", choices=("tiny", "standard"))
    p.add_argument("--model", "-m", action="append", dest="models", metavar="NAME", help="a model (repeatable)")
    p.add_argument("--no-publish", action="store_true", help="leave publishing to a later step (CI matrix)")
    p.add_argument("--webhook", metavar="URL", help=f"post new regressions here (default: ${regressions.WEBHOOK_ENV})")
    p.set_defaults(func=main)


@holding_lock("nightly")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    return nightly(config, layout, args)


def nightly(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    outcomes = run_frameworks(config, layout, request_from(args, new_only=True))
    ran = sum(len(o.revisions) for o in outcomes)
    print_summary(outcomes)
    broken = [] if ran or args.no_publish else publish.broken_sites(config, layout)
    if broken:
        print(f"the published site is incomplete ({', '.join(broken)}): publishing it again")
    if (ran or broken) and not args.no_publish:
        publish.publish_all(config, layout)
    seen_file = layout.results / "reported-regressions.json"
    seen = previously_reported(seen_file)
    rows = [r for r in find_regressions(config, layout, args.frameworks) if key(r) not in seen]
    print(f"\n{ran} new revision(s) run; {len(rows)} new regression(s)")
    status = regressions.report(rows, False, args.webhook or os.environ.get(regressions.WEBHOOK_ENV))
    if status != regressions.EXIT_ALERT_FAILED:
        atomic_write_json(seen_file, {"version": 1, "keys": sorted(seen | {key(r) for r in rows})})
    return status
