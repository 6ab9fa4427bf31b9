"""`zkml-tracker nightly`: fetch, run what is new, publish, report. Meant for cron or a CI schedule.

Each new timing candidate is re-measured before it is reported (its revision and the one before,
interleaved: see `regressions --confirm`); only confirmed ones and deterministic metrics that got worse
are alerted. Idempotent: with nothing new it builds nothing, runs nothing and publishes nothing. One nightly at a time
(a lock file beside the results); a second one exits at once with status 75. Otherwise the exit status
is the report's: 0 nothing new regressed, 3 new regressions, 4 new regressions but the alert failed.
"""
from __future__ import annotations

import argparse
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from tracker.commands import publish, regressions
from tracker.commands.run import print_summary, request_from
from tracker.config import Config
from tracker.fsutil import atomic_write_json
from tracker.report.confirm import confirm_candidates
from tracker.report.regressions import all_changes, find_verdicts, key, previously_reported
from tracker.report.verdict import load_settings
from tracker.run.asv import Layout
from tracker.run.runner import run as run_frameworks

EXIT_LOCKED = 75


class Locked(Exception):
    pass


@contextmanager
def nightly_lock(results: Path):
    """An exclusive, non-blocking lock; the kernel releases it if the holder dies, so it never goes stale."""
    results.mkdir(parents=True, exist_ok=True)
    fd = os.open(results / ".nightly.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(f"another nightly holds {results / '.nightly.lock'}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nightly", help="run new revisions, publish, report regressions", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME")
    p.add_argument("--suite", choices=("tiny", "standard"))
    p.add_argument("--model", "-m", action="append", dest="models", metavar="NAME", help="a model (repeatable)")
    p.add_argument("--no-publish", action="store_true", help="leave publishing to a later step (CI matrix)")
    p.add_argument("--webhook", metavar="URL", help=f"post new regressions here (default: ${regressions.WEBHOOK_ENV})")
    p.set_defaults(func=main)


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    try:
        with nightly_lock(layout.results):
            return nightly(config, layout, args)
    except Locked as exc:
        print(f"zkml-tracker: nightly already running: {exc}")
        return EXIT_LOCKED


def nightly(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    outcomes = run_frameworks(config, layout, request_from(args, new_only=True))
    ran = sum(len(o.revisions) for o in outcomes)
    print_summary(outcomes)
    settings = load_settings(config.root / "asv.conf.json")
    confirmed = confirm_candidates(config, layout, all_changes(config, layout, args.frameworks, settings), settings)
    if (ran or confirmed) and not args.no_publish:
        publish.publish_all(config, layout)
    seen_file = layout.results / "reported-regressions.json"
    seen = previously_reported(seen_file)
    verdicts = find_verdicts(config, layout, args.frameworks, settings)
    rows = [r for r in verdicts.regressions if key(r) not in seen]
    print(f"\n{ran} new revision(s) run; {confirmed} candidate pair(s) re-measured; {len(rows)} new regression(s)")
    for r in verdicts.not_confirmed:
        print(f"not confirmed (noise), not alerted: {r.framework} {r.model} [{r.variant}] {r.metric} at {r.label} "
              f"({r.evidence_text})")
    status = regressions.report(rows, False, args.webhook or os.environ.get(regressions.WEBHOOK_ENV))
    if status != regressions.EXIT_ALERT_FAILED:
        atomic_write_json(seen_file, {"version": 1, "keys": sorted(seen | {key(r) for r in rows})})
    return status
