"""`zkml-tracker compare -f NAME BASE HEAD`: one revision against another, for pull-request checks.

Builds both (through the build cache), measures them interleaved (BASE HEAD BASE HEAD ..., `rounds` of
each) on this machine, and prints one table: metric, base, head, ratio, verdict, evidence. Timings and
memory are judged on one value a run (the median of its samples: the repeats of a run share its load), as
confirmation judges them (minimum effect, then a one-sided Mann-Whitney test): "slower"/"larger" is a confirmed regression; a change of at least the minimum effect
that the test cannot confirm is "not confirmed"; where the sample counts could not reach p < alpha however
large the change, "too few samples" with the rounds that would settle it. The wall time of a CPU-bound
stage whose wall and CPU samples disagree (a neighbour stretched the wall clock) is judged on its CPU time,
and the evidence says so. Sizes, circuit and accuracy are judged by their exact values. The records go to
results/<fw>/compare/, apart from the history's own.

`--json` prints one JSON object, `--markdown` a Markdown report (for $GITHUB_STEP_SUMMARY); with either,
stdout holds that alone and progress goes to stderr.

Exit status: 1 on a timing or memory regression or a deterministic metric that got worse (larger proof
or keys, more constraints, more accuracy lost), 0 otherwise, 2 if either revision could not be measured.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from typing import Sequence

from tracker.config import Config
from tracker.history import HistoryError
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.metrics import METRICS, Metric
from tracker.publish.units import exact, format_value
from tracker.report.confirm import per_run, pooled
from tracker.run.remeasure import Remeasurer, interleaved
from tracker.report.probe import too_few_samples, weigh_clocks
from tracker.report.stats import compare as compare_samples, mann_whitney
from tracker.report.change import Settings, load_settings
from tracker.run.context import NotReady, open_to_measure
from tracker.store.formats import REPORT_VERSION
from tracker.store.paths import FrameworkStore

WORSE = ("slower", "larger", "worse")
TOO_FEW, NOT_CONFIRMED = "too few samples", "not confirmed"
APART = (NOT_CONFIRMED, TOO_FEW)  # rows listed apart: the samples did not settle them


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two revisions, measured interleaved (for pull requests)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--framework", "-f", required=True, metavar="NAME")
    p.add_argument("base", help="the revision to compare against (commit, tag or version)")
    p.add_argument("head", help="the revision under test")
    p.add_argument("--model", "-m", action="append", dest="models", metavar="NAME",
                   help="a model (repeatable; default: the config's suite)")
    p.add_argument("--variant", action="append", dest="variants", metavar="NAME", help="default: every variant")
    p.add_argument("--rounds", type=int, metavar="N", help="interleaved rounds of each (default: asv.conf.json)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print JSON instead of a table")
    shown.add_argument("--markdown", action="store_true", help="print a Markdown report (for a CI job summary)")
    p.set_defaults(func=main)


def measured_word(base: list[float], head: list[float], unit: str, effect: float, alpha: float) -> str:
    """A timing's or memory's word on two revisions' samples: a change of at least `effect` (a fraction)
    confirmed by a one-sided test, not confirmed, no change, or too few samples to say."""
    if too_few_samples(len(base), len(head), 1, alpha, "greater"):
        return TOO_FEW
    before, after = statistics.median(base), statistics.median(head)
    moved = math.log(after / before) if before > 0 and after > 0 else 0.0
    if abs(moved) < math.log1p(effect):
        return "no change"
    up = moved > 0
    if mann_whitney(base, head, "greater" if up else "less") >= alpha:
        return NOT_CONFIRMED
    if unit == "seconds":
        return "slower" if up else "faster"
    return "larger" if up else "smaller"


def exact_row(metric: Metric, b: float, h: float) -> dict:
    word = "same" if h == b else ("worse" if (h > b) != metric.higher_is_better else "better")
    return {"verdict": word, "before": b, "after": h, "ratio": h / b if b else (1.0 if h == b else math.inf)}


def measured_row(metric: Metric, base_recs, head_recs, settings: Settings, rounds: int) -> dict:
    """The verdict on a measured metric, on its own samples or (a stretched wall clock) on CPU time."""
    base, head = per_run(metric, base_recs), per_run(metric, head_recs)
    alpha = settings.asked_alpha
    word, why = weigh_clocks(metric, [base_recs, head_recs],
                             lambda xs, e: measured_word(xs[0], xs[1], metric.unit, e, alpha), settings.effect,
                             values=per_run)
    row = {"verdict": word, **compare_samples(base, head, alternative="greater").to_json()}
    if why:
        row.update(basis="cpu_time", note=why)
    if word == TOO_FEW:
        row["needs"] = too_few_samples(len(base), len(head), rounds, alpha, "greater")
    return row


def rows_for(model: str, variant: str, base_recs, head_recs, settings: Settings, rounds: int) -> list[dict]:
    rows = []
    for metric in METRICS:
        base, head = pooled(metric, base_recs), pooled(metric, head_recs)
        if not base or not head:
            continue
        figures = measured_row(metric, base_recs, head_recs, settings, rounds) if metric.measured else \
            exact_row(metric, base[0], head[0])
        rows.append({"model": model, "variant": variant, "metric": metric.name, "unit": metric.unit,
                     "kind": metric.kind, **figures})
    return rows


def evidence(r: dict) -> str:
    """What a verdict rests on: exact values; or the test's p and the sample counts, what they lack (too few),
    and why CPU time decided where it did."""
    if "p_value" not in r:
        return "exact"
    counts = f"n={r['samples'][0]}+{r['samples'][1]}"
    if r.get("needs"):  # "too few samples (needs ...; run --rounds K)": the verdict column says the first words
        return f"{r['needs'].partition('(')[2].rstrip(')')}; {counts}"
    said = f"p={r['p_value']:.2g}, {counts}"
    return f"{said}; {r['note']}" if r.get("note") else said


def cells(r: dict) -> tuple[str, ...]:
    shown = format_value if r["kind"] == "measured" else exact  # a one-byte change must show
    return (f"{r['model']} [{r['variant']}]", r["metric"], shown(r["before"], r["unit"]),
            shown(r["after"], r["unit"]), f"{r['ratio']:.3f}x", r["verdict"], evidence(r))


HEADINGS = ("model [variant]", "metric", "base", "head", "ratio", "verdict", "evidence")


def format_rows(rows: list[dict]) -> str:
    body = [cells(r) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(HEADINGS, *body)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in (HEADINGS, *body))


def _markdown_table(rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    for r in rows:
        row = [c.replace("|", "\\|") for c in cells(r)]
        if r["verdict"] in WORSE:
            row[5] = f"**{row[5]}**"
        lines.append("| " + " | ".join(row) + " |")
    return lines


def format_markdown(report: dict) -> str:
    """The verdicts as Markdown for a CI job summary: what was compared, the outcome, the decided rows, and
    apart from them the rows the samples did not settle."""
    rows = report["rows"]
    worse = [r for r in rows if r["verdict"] in WORSE]
    lines = [f"### zkml-tracker compare: {report['framework']} {report['base']} -> {report['head']}", ""]
    if report.get("error"):
        lines += [f"Could not compare: {report['error']}", ""]
    elif worse:
        lines += ["**Regression**: " + "; ".join(f"{r['metric']} of {r['model']} [{r['variant']}] {r['verdict']} "
                                                  f"({r['ratio']:.2f}x)" for r in worse), ""]
    else:
        lines += [f"No regression ({len(rows)} metric(s) compared, {report['rounds']} interleaved round(s)).", ""]
    decided = [r for r in rows if r["verdict"] not in APART]
    if decided:
        lines += _markdown_table(decided) + [""]
    unsettled = [r for r in rows if r["verdict"] in APART]
    if unsettled:
        lines += ["#### Not confirmed or too few samples", ""] + _markdown_table(unsettled) + [""]
    return "\n".join(lines)


@dataclass(frozen=True)
class CompareRequest:
    """Two revisions of one framework to measure against each other; None: the config's suite, every
    variant, asv.conf.json's rounds."""

    framework: str
    base: str
    head: str
    models: Sequence[str] | None = None
    variants: Sequence[str] | None = None
    rounds: int | None = None


def compare(config: Config, layout: Layout, request: CompareRequest, say=print) -> tuple[int, dict]:
    """Measure BASE and HEAD interleaved; the exit status and the report (framework, labels, rows)."""
    from tracker.models.zoo import SUITES

    fw = config.framework(request.framework)
    settings = load_settings(config.root / "asv.conf.json")
    rounds = request.rounds or settings.rounds
    report = {"version": REPORT_VERSION, "framework": fw.name, "base": request.base, "head": request.head,
              "rounds": rounds, "rows": []}
    m = Remeasurer(open_to_measure(config, layout, fw, say))
    base, head = m.revision(request.base), m.revision(request.head)
    report.update(base=base.label, head=head.label, base_sha=base.sha, head_sha=head.sha)
    for model in request.models or SUITES[config.default_suite]:
        for variant in request.variants or fw.variant_names:
            into = FrameworkStore(layout, fw.name).compared(base.sha, head.sha, model, variant)
            got = interleaved(m, [base.sha, head.sha], model, variant, rounds, into)
            if not got[base.sha] or not got[head.sha]:
                report["error"] = f"{model} [{variant}] could not be measured at both revisions (records: {into})"
                say(f"compare: {report['error']}")
                return 2, report
            report["rows"] += rows_for(model, variant, got[base.sha], got[head.sha], settings, rounds)
    return (1 if any(r["verdict"] in WORSE for r in report["rows"]) else 0), report


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


@holding_lock("compare")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    say = to_stderr if args.json or args.markdown else print
    try:
        status, report = compare(config, layout, CompareRequest(args.framework, args.base, args.head, args.models,
                                                                args.variants, args.rounds), say)
    except (HistoryError, NotReady) as exc:
        say(f"compare: {exc}")
        status, report = 2, {"version": REPORT_VERSION, "framework": args.framework, "base": args.base,
                             "head": args.head, "rows": [], "error": str(exc)}
    report["regression"] = status == 1
    if args.json:
        print(json.dumps(report, indent=1))
    elif args.markdown:
        print(format_markdown(report))
    elif report["rows"] or status != 2:  # a refusal is its one line alone
        print(format_rows(report["rows"]))
        if status != 2:
            print("\nregression" if status == 1 else "\nno regression")
    return status
