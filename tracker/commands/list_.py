"""`zkml-tracker list`: the frameworks, whether they can run here, and their recorded revisions."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tracker import records
from tracker.adapters.readiness import UNSUPPORTED, readiness
from tracker.config import Config
from tracker.layout import Layout
from tracker.records import Status
from tracker.store.formats import LIST_VERSION
from tracker.store.paths import FrameworkStore
from tracker.store.state import StateRead, build_failures


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list frameworks, their status and recorded revisions", description=__doc__)
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME")
    p.add_argument("--json", action="store_true", help='print {"version": 1, "frameworks": [...]} instead')
    p.set_defaults(func=main)


def framework_rows(config: Config, layout: Layout, names=None, state: StateRead | None = None) -> list[dict]:
    """One row per framework: what it is, whether it can run here, and each recorded revision's status.
    A state file or record that cannot be read is said in one line (tracker.store.state.StateRead)."""
    state = state or StateRead(layout)
    rows = []
    for fw in config.frameworks:
        if names and fw.name not in names:
            continue
        ready = readiness(fw, layout.cache)
        rows.append({
            "name": fw.name, "proof_system": fw.proof_system, "history": fw.history.kind,
            "variants": list(fw.variant_names), "default_job": fw.default_job,
            "status": "not yet supported" if ready.state == UNSUPPORTED else ready.state,
            "reason": ready.reason,
            "revisions": revision_rows(layout, fw, state),
        })
    return rows


def revision_rows(layout: Layout, fw, state: StateRead) -> list[dict]:
    framework = fw.name
    known = state.revisions(fw)
    rows = {}
    for sha, info in known.items():
        torn: list[Path] = []
        recs = records.load_revision(FrameworkStore(layout, framework).records, sha, torn)
        state.records_unreadable(fw, torn)
        bad = [f"{r.model}[{r.variant}] {r.status}" for r in recs if r.status != Status.OK]
        bad += [f"{p.name.removesuffix('.torn').removesuffix('.json')} unreadable" for p in torn]
        rows[sha] = {"sha": sha, "label": info.get("label", sha[:8]), "date": info.get("date", ""),
                     "status": Status.OK if recs and not bad else (Status.FAILED if bad else "no results"),
                     "detail": "; ".join(bad)}
    for sha, b in build_failures(FrameworkStore(layout, framework)):
        b = b or {}
        rows[sha] = {"sha": sha, "label": b.get("label", sha[:8]), "date": known.get(sha, {}).get("date", ""),
                     "status": "build failed", "detail": b.get("reason", "")}
    return sorted(rows.values(), key=lambda r: r["date"])


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    """Exit 1 when a record could not be read (each said in one line and shown in its revision's row)."""
    state = StateRead(layout, (lambda line: print(line, file=sys.stderr)) if args.json else print)
    rows = framework_rows(config, layout, args.frameworks, state)
    if args.json:
        print(json.dumps({"version": LIST_VERSION, "frameworks": rows}, indent=1, default=str))
        return 1 if state.unreadable else 0
    width = max((len(r["proof_system"]) for r in rows), default=0)
    for row in rows:
        print(f"{row['name']:14} {row['proof_system']:{width}} history: {row['history']:9} "
              f"variants: {','.join(row['variants']):20} {row['status']}"
              f"{'' if row['default_job'] else ' (not in the default job: run -f ' + row['name'] + ')'}")
        if row["reason"]:
            print(f"{'':16}{row['reason']}")
        for rev in row["revisions"]:
            print(f"{'':16}{rev['label']:14} {rev['sha'][:10]} {rev['date'][:10]}  {rev['status']}"
                  f"{'  ' + rev['detail'] if rev['detail'] else ''}")
    return 1 if state.unreadable else 0
