"""`zkml-tracker compare -f NAME BASE HEAD`: one revision against another, for pull-request checks.

Builds both (through the build cache), measures them interleaved (BASE HEAD BASE HEAD ..., `rounds` of
each) on this machine, and prints one table: metric, base, head, ratio, verdict. Timings and memory are
judged on the pooled samples as confirmation judges them (minimum effect, then a Mann-Whitney test);
sizes, circuit and accuracy by their exact values. The records go to results/<fw>/compare/, apart from
the history's own.

Exit status: 1 on a timing or memory regression or a deterministic metric that got worse (larger proof
or keys, more constraints, more accuracy lost), 0 otherwise, 2 if either revision could not be measured.
"""
from __future__ import annotations

import argparse
import json
import math

from tracker.config import Config
from tracker.history import HistoryError
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.metrics import METRICS, Metric
from tracker.publish.units import exact, format_value
from tracker.report.confirm import Remeasurer, interleaved, pooled
from tracker.report.stats import compare as compare_samples, mann_whitney
from tracker.report.verdict import Settings, load_settings
from tracker.run.context import NotReady, open_to_measure

WORSE = ("slower", "larger", "worse")


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
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=main)


def verdict(metric: Metric, base: list[float], head: list[float], settings: Settings) -> tuple[str, dict]:
    """One metric's verdict on the two revisions' values, and the figures it rests on."""
    if not metric.measured:
        b, h = base[0], head[0]
        word = "same" if h == b else ("worse" if h > b else "better")
        return word, {"before": b, "after": h, "ratio": h / b if b else (1.0 if h == b else math.inf)}
    c = compare_samples(base, head, alternative="greater")
    effect = math.log(c.ratio) if c.ratio > 0 and math.isfinite(c.ratio) else 0.0
    threshold = math.log1p(settings.effect(metric))
    if effect >= threshold and c.p_value < settings.confirm_alpha:
        word = "slower" if metric.unit == "seconds" else "larger"
    elif effect <= -threshold and mann_whitney(base, head, "less") < settings.confirm_alpha:
        word = "faster" if metric.unit == "seconds" else "smaller"
    else:
        word = "no change"
    return word, c.to_json()


def rows_for(model: str, variant: str, base_recs, head_recs, settings: Settings) -> list[dict]:
    rows = []
    for metric in METRICS:
        base, head = pooled(metric, base_recs), pooled(metric, head_recs)
        if not base or not head:
            continue
        word, figures = verdict(metric, base, head, settings)
        rows.append({"model": model, "variant": variant, "metric": metric.name, "unit": metric.unit,
                     "kind": metric.kind, "verdict": word, **figures})
    return rows


def format_rows(rows: list[dict]) -> str:
    head = ("model [variant]", "metric", "base", "head", "ratio", "verdict", "evidence")
    body = []
    for r in rows:
        evidence = f"p={r['p_value']:.2g}, n={r['samples'][0]}+{r['samples'][1]}" if "p_value" in r else "exact"
        shown = format_value if r["kind"] == "measured" else exact  # a one-byte change must show
        body.append((f"{r['model']} [{r['variant']}]", r["metric"], shown(r["before"], r["unit"]),
                     shown(r["after"], r["unit"]), f"{r['ratio']:.3f}x", r["verdict"], evidence))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in (head, *body))


def compare(config: Config, layout: Layout, args: argparse.Namespace, say=print) -> tuple[int, list[dict]]:
    from tracker.models.zoo import SUITES

    fw = config.framework(args.framework)
    settings = load_settings(config.root / "asv.conf.json")
    m = Remeasurer(open_to_measure(config, layout, fw, say))
    base, head = m.revision(args.base), m.revision(args.head)
    rounds = args.rounds or settings.rounds
    rows = []
    for model in args.models or SUITES[config.default_suite]:
        for variant in args.variants or fw.variant_names:
            into = layout.results / fw.name / "compare" / f"{base.short}-{head.short}" / f"{model}--{variant}"
            got = interleaved(m, [base.sha, head.sha], model, variant, rounds, into)
            if not got[base.sha] or not got[head.sha]:
                say(f"compare: {model} [{variant}] could not be measured at both revisions (records: {into})")
                return 2, rows
            rows += rows_for(model, variant, got[base.sha], got[head.sha], settings)
    return (1 if any(r["verdict"] in WORSE for r in rows) else 0), rows


@holding_lock("compare")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    try:
        status, rows = compare(config, layout, args)
    except (HistoryError, NotReady) as exc:
        print(f"compare: {exc}")
        return 2
    print(json.dumps({"version": 1, "rows": rows}, indent=1) if args.json else format_rows(rows))
    if not args.json and status != 2:
        print("\nregression" if status == 1 else "\nno regression")
    return status
