"""`zkml-tracker bisect`: find the single commit where a metric changed, between a good and a bad commit.

Benchmarks only the commits it needs (binary search over the first-parent commits in between), only
the affected model and variant, then publishes.

A deterministic metric (sizes, circuit, accuracy) is read from the records (made where missing): a commit
is bad when its value is the bad commit's. A timing or memory metric is judged on the engine of
`regressions --confirm`: both ends are first measured again, interleaved, so a bad end recorded beside a
busy neighbour does not mislead the search; each probe is measured fresh and its samples tested against
both ends' (Mann-Whitney); a probe that is like neither (or like both) is measured again, up to
PROBE_ATTEMPTS times, and only then placed by the nearer median, which the output says.
"""
from __future__ import annotations

import argparse
import math
import statistics

from tracker import records
from tracker.adapters import get_adapter
from tracker.commands import publish
from tracker.config import Config
from tracker.history import open_history, select
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.metrics import BY_NAME, summary
from tracker.report.confirm import Remeasurer, interleaved, pooled
from tracker.report.stats import compare, mann_whitney
from tracker.report.verdict import load_settings
from tracker.run import asv
from tracker.run.runner import Request, run_revision

PROBE_ATTEMPTS = 3


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bisect", help="find the commit where a metric changed", description=__doc__)
    p.add_argument("--framework", "-f", required=True, metavar="NAME")
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--variant", help="default: the framework's first variant")
    p.add_argument("--metric", required=True, choices=sorted(BY_NAME))
    p.add_argument("good", help="a commit with the old value")
    p.add_argument("bad", help="a later commit with the new value")
    p.add_argument("--repeats", type=int)
    p.set_defaults(func=main)


def bisect(config: Config, layout: Layout, framework: str, model: str, variant: str | None, metric: str,
           good: str, bad: str, repeats: int | None = None, say=print) -> str | None:
    """The first commit whose value is like `bad`'s, or None if a measurement failed."""
    fw = config.framework(framework)
    variant = variant or fw.variant_names[0]
    history = open_history(fw, layout.cache)
    ends = select.pinned(history, [good, bad])
    candidates = select.between(history, ends[0].sha, ends[1].sha)
    if BY_NAME[metric].measured:
        return bisect_measured(config, layout, fw, model, variant, BY_NAME[metric], ends, candidates, say)
    request = Request(frameworks=[fw.name], models=[model], variants=[variant], repeats=repeats,
                      bench=f"track_{metric}")
    asv_config = asv.derive_config(fw, history.repo_path, history.branch, layout, config.root / "asv.conf.json",
                                   history.commit_url)
    asv.ensure_machine(asv_config)
    adapter = get_adapter(fw.adapter)

    def value(revision) -> float | None:
        rec = records.load(records.record_path(layout.records(fw.name), revision.sha, model, variant))
        if rec is None:
            run_revision(config, fw, adapter, history, revision, asv_config, layout, request, say)
            rec = records.load(records.record_path(layout.records(fw.name), revision.sha, model, variant))
        return summary(BY_NAME[metric].value(rec)) if rec is not None else None

    v_good, v_bad = value(ends[0]), value(ends[1])
    if v_good is None or v_bad is None:
        say(f"bisect: cannot measure {metric} at both ends ({v_good!r}, {v_bad!r})")
        return None
    say(f"bisect: {metric} {v_good:.4g} at {ends[0].label}, {v_bad:.4g} at {ends[1].label}; "
        f"{len(candidates)} commit(s) in between")
    lo, hi = -1, len(candidates)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        v = value(candidates[mid])
        if v is None:
            say(f"bisect: {candidates[mid].label} could not be measured; stopping")
            return None
        is_bad = v != v_good  # the first commit whose value is no longer the good one's
        say(f"bisect: {candidates[mid].label}: {v:.4g} -> {'bad' if is_bad else 'good'}")
        lo, hi = (lo, mid) if is_bad else (mid, hi)
    first_bad = candidates[hi] if hi < len(candidates) else ends[1]
    say(f"bisect: first commit with the new {metric}: {first_bad.sha} {first_bad.label} {first_bad.subject}")
    return first_bad.sha


def bisect_measured(config: Config, layout: Layout, fw, model: str, variant: str, metric, ends, candidates,
                    say=print) -> str | None:
    """The bisection of a timing or memory metric, on fresh samples judged against both re-measured ends."""
    settings = load_settings(config.root / "asv.conf.json")
    m = Remeasurer(config, layout, fw, say)
    good, bad = ends
    into = layout.results / fw.name / "bisect" / f"{good.short}-{bad.short}" / f"{model}--{variant}"
    say(f"bisect: measuring both ends again, interleaved, {settings.rounds} round(s)")
    got = interleaved(m, [good.sha, bad.sha], model, variant, settings.rounds, into / "ends")
    g, b = pooled(metric, got[good.sha]), pooled(metric, got[bad.sha])
    if not g or not b:
        say(f"bisect: cannot measure {metric.name} at both ends")
        return None
    c = compare(g, b)
    say(f"bisect: {metric.name} {c.before:.4g} at {good.label}, {c.after:.4g} at {bad.label} ({c.ratio:.2f}x, "
        f"p={c.p_value:.2g}); {len(candidates)} commit(s) in between")
    if c.p_value >= settings.confirm_alpha:
        say("bisect: the ends do not differ when measured again interleaved: nothing to bisect")
        return None
    lo, hi = -1, len(candidates)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        side = place(m, candidates[mid], model, variant, metric, (g, b), settings, into, say)
        if side is None:
            return None
        lo, hi = (lo, mid) if side == "bad" else (mid, hi)
    first_bad = candidates[hi] if hi < len(candidates) else bad
    say(f"bisect: first commit with the new {metric.name}: {first_bad.sha} {first_bad.label} {first_bad.subject}")
    return first_bad.sha


def place(m: Remeasurer, revision, model: str, variant: str, metric, ends: tuple[list, list], settings,
          into, say) -> str | None:
    """"good" or "bad": a probe's samples differ from one end's and not from the other's; measured again
    while it is not clear, then placed by the nearer median (and said so). None if it cannot be measured."""
    good, bad = ends
    samples: list[float] = []
    for attempt in range(1, PROBE_ATTEMPTS + 1):
        rec = m.measure(revision.sha, model, variant, into / f"probe-{attempt}")
        if rec is None or not pooled(metric, [rec]):
            say(f"bisect: {revision.label} could not be measured; stopping")
            return None
        samples += pooled(metric, [rec])
        p_good, p_bad = mann_whitney(good, samples), mann_whitney(bad, samples)
        like_good, like_bad = p_bad < settings.confirm_alpha <= p_good, p_good < settings.confirm_alpha <= p_bad
        value = statistics.median(samples)
        if like_good or like_bad:
            side = "bad" if like_bad else "good"
            say(f"bisect: {revision.label}: {value:.4g} -> {side} (p={min(p_good, p_bad):.2g} against the other end, "
                f"{len(samples)} samples)")
            return side
        say(f"bisect: {revision.label}: {value:.4g} not clear yet (p={p_good:.2g} vs good, {p_bad:.2g} vs bad); "
            f"measuring again")
    near_bad = abs(math.log(value / statistics.median(bad))) < abs(math.log(value / statistics.median(good)))
    side = "bad" if near_bad else "good"
    say(f"bisect: {revision.label}: placed {side} by the nearer median, not with confidence")
    return side


@holding_lock("bisect")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    found = bisect(config, layout, args.framework, args.model, args.variant, args.metric, args.good, args.bad,
                   args.repeats)
    publish.publish_all(config, layout)
    return 0 if found else 1
