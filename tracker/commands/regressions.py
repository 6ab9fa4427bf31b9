"""`zkml-tracker regressions`: what changed, per framework, model, variant and metric, judged by its kind.

Read from the tracker's records (never from the published site). A deterministic metric that got worse is
a regression at once; a timing or memory step is a candidate until it is re-measured, its two revisions
interleaved on this machine (`--confirm`, which `nightly` does by itself): confirmed, it is a regression;
gone, it is listed apart as "not confirmed (noise)" and never alerted. A step at the newest commit (or near
either end) that moved but has too few samples for any test is "too early to tell" until re-measured.

Exit status: 0 with no regressions, 3 with regressions, 4 if the webhook could not be told (the report
is still printed), 1 with no regressions in what could be read but some evidence that could not be (a
torn record, a state file that could not be rebuilt): each said in one line. The webhook URL comes from --webhook or $ZKML_TRACKER_WEBHOOK and is never printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Sequence

from tracker.config import Config
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.report.confirm import confirm_candidates
from tracker.report.regressions import Verdicts, all_changes, find_verdicts, format_report, format_table, post_webhook
from tracker.report.change import load_settings
from tracker.store.state import StateRead
from tracker.types import Say

WEBHOOK_ENV = "ZKML_TRACKER_WEBHOOK"
EXIT_REGRESSIONS = 3
EXIT_ALERT_FAILED = 4
EXIT_UNREADABLE = 1


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regressions", help="list the regressions, each judged by its metric's kind",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--confirm", action="store_true",
                   help="re-measure each timing candidate not yet confirmed, interleaved with the revision before")
    p.add_argument("--webhook", metavar="URL", help=f"post the report here (default: ${WEBHOOK_ENV})")
    p.set_defaults(func=main)


def report(rows, as_json: bool, webhook: str | None, verdicts: Verdicts | None = None) -> int:
    """Print the verdicts (or the rows alone), post the regressions if asked; the exit status a scheduler reads.

    Only `rows` are ever posted: candidates and what was not confirmed are printed, never sent. With
    `as_json` stdout holds the JSON object alone: what is said about the alert goes to stderr."""
    say = to_stderr if as_json else print
    if as_json:
        print(json.dumps((verdicts or Verdicts(regressions=list(rows))).to_json(), indent=1))
    else:
        print(format_report(verdicts) if verdicts is not None else format_table(rows))
    status = EXIT_REGRESSIONS if rows else (EXIT_UNREADABLE if verdicts is not None and verdicts.unreadable else 0)
    if webhook and rows:
        why = post_webhook(webhook, rows)
        if why:
            say(f"zkml-tracker: alert not delivered: {why}")
            return EXIT_ALERT_FAILED
        say("zkml-tracker: alert delivered")
    return status


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def verdicts_confirmed(config: Config, layout: Layout, frameworks=None, confirm: bool = True,
                       say: Say = print) -> Verdicts:
    """The verdicts, after re-measuring the unsettled timing and memory steps when `confirm` (its
    progress to `say`)."""
    settings = load_settings(config.root / "asv.conf.json")
    state = StateRead(layout, say)
    if confirm:
        confirm_all(config, layout, frameworks, settings, say, state)
    return find_verdicts(config, layout, frameworks, settings, state)


def confirm_all(config: Config, layout: Layout, frameworks, settings, say: Say = print,
                state: StateRead | None = None) -> int:
    """Re-measure every unsettled step (candidates, steps too early to tell, neighbours of a step not
    confirmed at its pair); the number of pairs measured."""
    state = state or StateRead(layout, say)

    def changes():
        return all_changes(config, layout, frameworks, settings, state)

    return confirm_candidates(config, layout, changes(), settings, say, again=changes)


@dataclass(frozen=True)
class RegressionsRequest:
    """What `regressions` is asked for: which frameworks (None: all), JSON on stdout or a table, whether the
    unsettled steps are re-measured first, and where regressions are posted (None: nowhere)."""

    frameworks: Sequence[str] | None = None
    as_json: bool = False
    confirm: bool = False
    webhook: str | None = None


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    """Reading takes no lock; `--confirm` measures and writes, so it holds the lock the other writers do."""
    request = RegressionsRequest(frameworks=args.frameworks, as_json=args.json, confirm=args.confirm,
                                 webhook=args.webhook or os.environ.get(WEBHOOK_ENV))
    return (confirm_and_report if request.confirm else report_verdicts)(config, layout, request)


def report_verdicts(config: Config, layout: Layout, request: RegressionsRequest) -> int:
    """The verdicts (re-measured first when asked), reported: the exit status a scheduler reads."""
    say = to_stderr if request.as_json else print
    verdicts = verdicts_confirmed(config, layout, request.frameworks, request.confirm, say)
    return report(verdicts.regressions, request.as_json, request.webhook, verdicts)


confirm_and_report = holding_lock("regressions --confirm")(report_verdicts)
