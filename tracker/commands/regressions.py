"""`zkml-tracker regressions`: what asv detected, per framework, model, variant and metric.

Exit status: 0 with no regressions, 3 with regressions, 4 if the webhook could not be told (the report
is still printed). The webhook URL comes from --webhook or $ZKML_TRACKER_WEBHOOK and is never printed.
"""
from __future__ import annotations

import argparse
import json
import os

from tracker.config import Config
from tracker.report.regressions import find_regressions, format_table, post_webhook
from tracker.run.asv import Layout

WEBHOOK_ENV = "ZKML_TRACKER_WEBHOOK"
EXIT_REGRESSIONS = 3
EXIT_ALERT_FAILED = 4


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regressions", help="list the regressions asv detected", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--webhook", metavar="URL", help=f"post the report here (default: ${WEBHOOK_ENV})")
    p.set_defaults(func=main)


def report(rows, as_json: bool, webhook: str | None) -> int:
    """Print the rows, post them if asked; the exit status a scheduler reads."""
    print(json.dumps([r.to_json() for r in rows], indent=1) if as_json else format_table(rows))
    status = EXIT_REGRESSIONS if rows else 0
    if webhook and rows:
        why = post_webhook(webhook, rows)
        if why:
            print(f"zkml-tracker: alert not delivered: {why}")
            return EXIT_ALERT_FAILED
        print("zkml-tracker: alert delivered")
    return status


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    rows = find_regressions(config, layout, args.frameworks)
    return report(rows, args.json, args.webhook or os.environ.get(WEBHOOK_ENV))
