"""One framework's records as the README's per-release table: compile (setup), prove and verify, each as wall
and CPU time (medians of the record's samples), peak prove memory, proof size, rows, accuracy. The records keep
no load of their own (the calibration's is of the run that first calibrated the machine): say it beside.

    python bench/release_table.py [--results results] [--framework o1js] [--model linear]

Reads results/<framework>/records and revisions.json (the tracker's own files); prints Markdown, in the
history's order. A record that did not end `ok` is a row with its status and reason.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from tracker import records


def row(rec, label: str) -> str:
    if rec.status != "ok":
        return f"| {label} | {rec.model} | {rec.status}: {rec.reason} |" + " |" * 7

    def times(stage: str) -> str:
        s = rec.stages.get(stage)
        if s is None or not s.samples_s:
            return "-"
        return f"{statistics.median(s.samples_s):.1f} / {statistics.median(s.cpu_s):.1f}"

    prove = rec.stages["prove"]
    acc = rec.accuracy
    return (f"| {label} | {rec.model} | {times('setup')} | {times('prove')} | {times('verify')} | "
            f"{prove.peak_rss_bytes / 2**20:,.0f} | {rec.sizes.get('proof_raw_bytes', '-'):,} | "
            f"{rec.circuit.get('rows', '-'):,} | {acc.get('top1_agreement', 0):.3f} / {acc.get('max_abs_error', 0):.4f} | "
            f"{rec.provenance.get('verify_cold_s', '-')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--framework", default="o1js")
    parser.add_argument("--model", action="append", help="a model (repeatable; default: every one recorded)")
    args = parser.parse_args()
    root = args.results / args.framework
    revisions = json.loads((root / "revisions.json").read_text())["revisions"]
    print("| release | model | compile s (wall / CPU) | prove s | verify s | prove peak MiB | proof B | rows "
          "| top-1 agreement / max abs error | first verify s |")
    print("|---" * 10 + "|")
    order = sorted(revisions, key=lambda sha: revisions[sha].get("position", 0))
    for sha in order:
        for path in sorted((root / "records" / sha).glob("*.json")):
            rec = records.load(path)
            if rec is not None and (not args.model or rec.model in args.model):
                print(row(rec, revisions[sha]["label"]))


if __name__ == "__main__":
    main()
