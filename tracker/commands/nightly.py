"""`zkml-tracker nightly`: fetch, run what is new, publish, report. Meant for cron or a CI schedule.

Each new timing or memory step is re-measured before it is reported (its revision and the one before,
interleaved: see `regressions --confirm`), a step on the newest commit included, so a commit is judged the
night it lands; only confirmed ones and deterministic metrics that got worse are alerted. Idempotent: with nothing new it builds nothing, runs nothing and publishes nothing. One
nightly, run or publish at a time (tracker/lock.py); a second one exits at once with status 75. Otherwise the exit status
is the report's: 0 nothing new regressed, 3 new regressions, 4 new regressions but the alert failed; with
nothing to report, 1 when a framework could not be followed at all (its branch gone upstream, its history
unreadable), which the summary names, or when a record could not be read. What was alerted is remembered in
each framework's results (tracker/report/reported.py), so a regression is alerted once.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Sequence

from tracker.commands import regressions
from tracker.commands.run import print_summary
from tracker.config import Config
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.publish.service import broken_sites, publish_all
from tracker.records import Status
from tracker.report.regressions import find_verdicts, key
from tracker.report.reported import load_reported, remember_reported
from tracker.report.change import load_settings
from tracker.run.runner import Request, run as run_frameworks
from tracker.store.state import StateRead

EXIT_FRAMEWORK_FAILED = 1


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nightly", help="run new revisions, publish, report regressions", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME")
    p.add_argument("--suite", choices=("tiny", "standard"))
    p.add_argument("--model", "-m", action="append", dest="models", metavar="NAME", help="a model (repeatable)")
    p.add_argument("--no-publish", action="store_true", help="leave publishing to a later step (CI matrix)")
    p.add_argument("--webhook", metavar="URL", help=f"post new regressions here (default: ${regressions.WEBHOOK_ENV})")
    p.set_defaults(func=main)


@dataclass(frozen=True)
class NightlyRequest:
    """What a night is asked for: which frameworks and models (None: all, the config's suite), whether it
    publishes, and where new regressions are posted (None: nowhere)."""

    frameworks: Sequence[str] | None = None
    suite: str | None = None
    models: Sequence[str] | None = None
    publish: bool = True
    webhook: str | None = None

    def run_request(self) -> Request:
        """The run a night makes: only revisions not recorded yet, of the frameworks and models asked for."""
        return Request(frameworks=self.frameworks, suite=self.suite, models=self.models, new_only=True)


@holding_lock("nightly")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    return nightly(config, layout, NightlyRequest(
        frameworks=args.frameworks, suite=args.suite, models=args.models, publish=not args.no_publish,
        webhook=args.webhook or os.environ.get(regressions.WEBHOOK_ENV)))


def nightly(config: Config, layout: Layout, request: NightlyRequest) -> int:
    # the site as this night found it: said when broken, even where tonight's work publishes it anyway
    broken = broken_sites(config, layout) if request.publish else []
    outcomes = run_frameworks(config, layout, request.run_request())
    ran = sum(len(o.revisions) for o in outcomes)
    print_summary(outcomes)
    settings = load_settings(config.root / "asv.conf.json")
    state = StateRead(layout)
    confirmed = regressions.confirm_all(config, layout, request.frameworks, settings, state=state)
    if broken:
        print(f"the published site is incomplete ({', '.join(broken)}): publishing it again")
    if (ran or confirmed or broken) and request.publish:
        publish_all(config, layout)
    names = [fw.name for fw in config.frameworks if not request.frameworks or fw.name in request.frameworks]
    told = load_reported(layout, names, print)
    seen, seen_noise = told["keys"], told["noise"]
    verdicts = find_verdicts(config, layout, request.frameworks, settings, state)
    rows = [r for r in verdicts.regressions if key(r) not in seen]
    noise = [r for r in verdicts.not_confirmed if key(r) not in seen_noise]
    print(f"\n{ran} new revision(s) run; {confirmed} candidate pair(s) re-measured; {len(rows)} new regression(s)")
    for r in noise:
        print(f"not confirmed (noise), not alerted: {r.framework} {r.model} [{r.variant}] {r.metric} at {r.label} "
              f"({r.evidence_text})")
    for r in verdicts.too_early:
        print(f"{r.framework} {r.model} [{r.variant}] {r.metric} at {r.label} {r.ratio:.2f}x: {r.note}")
    if len(verdicts.not_confirmed) > len(noise):
        print(f"{len(verdicts.not_confirmed) - len(noise)} step(s) judged noise on earlier nights: "
              f"`zkml-tracker regressions` lists them")
    status = regressions.report(rows, False, request.webhook)
    if status != regressions.EXIT_ALERT_FAILED:
        remember_reported(layout, {"keys": {key(r) for r in rows}, "noise": {key(r) for r in noise}}, print)
    if status == 0 and verdicts.unreadable:
        print(f"{len(verdicts.unreadable)} file(s) could not be read (said above): no verdict on them")
        return EXIT_FRAMEWORK_FAILED
    if status == 0 and any(o.status == Status.FAILED for o in outcomes):
        return EXIT_FRAMEWORK_FAILED
    return status
