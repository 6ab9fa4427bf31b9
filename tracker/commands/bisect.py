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
from dataclasses import dataclass, field
from pathlib import Path

from tracker import records
from tracker.commands import publish
from tracker.config import Config
from tracker.history import HistoryError, select
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.metrics import BY_NAME, Metric, summary
from tracker.report.confirm import Remeasurer, interleaved, pooled
from tracker.report.stats import compare, mann_whitney
from tracker.report.verdict import Settings, load_settings
from tracker.run import asv
from tracker.run.context import FrameworkContext, NotReady, open_to_measure
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


@dataclass(frozen=True)
class Question:
    """What bisect is asked: where, between `good` and `bad`, `metric` of (model, variant) changed."""

    model: str
    variant: str
    metric: Metric
    good: str
    bad: str
    repeats: int | None = None


def bisect(ctx: FrameworkContext, q: Question) -> str | None:
    """The first commit whose value is like `bad`'s, or None if a measurement failed."""
    ends = select.pinned(ctx.history, [q.good, q.bad])
    candidates = select.between(ctx.history, ends[0].sha, ends[1].sha)
    if q.metric.measured:
        return bisect_measured(ctx, q, ends, candidates)
    return bisect_recorded(ctx, q, ends, candidates)


def bisect_recorded(ctx: FrameworkContext, q: Question, ends, candidates) -> str | None:
    """The bisection of a deterministic metric: a commit is bad when its value is no longer the good one's."""
    say, name = ctx.say, q.metric.name
    request = Request(frameworks=[ctx.fw.name], models=[q.model], variants=[q.variant], repeats=q.repeats,
                      bench=f"track_{name}")
    asv.ensure_machine(ctx.asv_config)

    def value(revision) -> float | None:
        path = records.record_path(ctx.layout.records(ctx.fw.name), revision.sha, q.model, q.variant)
        if records.load(path) is None:
            run_revision(ctx, revision, request)
        rec = records.load(path)
        return summary(q.metric.value(rec)) if rec is not None else None

    v_good, v_bad = value(ends[0]), value(ends[1])
    if v_good is None or v_bad is None:
        say(f"bisect: cannot measure {name} at both ends ({v_good!r}, {v_bad!r})")
        return None
    say(f"bisect: {name} {v_good:.4g} at {ends[0].label}, {v_bad:.4g} at {ends[1].label}; "
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
    return _found(ctx, q, candidates[hi] if hi < len(candidates) else ends[1])


def bisect_measured(ctx: FrameworkContext, q: Question, ends, candidates) -> str | None:
    """The bisection of a timing or memory metric, on fresh samples judged against both re-measured ends."""
    say, metric = ctx.say, q.metric
    settings = load_settings(ctx.config.root / "asv.conf.json")
    good, bad = ends
    into = ctx.layout.results / ctx.fw.name / "bisect" / f"{good.short}-{bad.short}" / f"{q.model}--{q.variant}"
    probe = Probe(Remeasurer(ctx), q, settings, into)
    say(f"bisect: measuring both ends again, interleaved, {settings.rounds} round(s)")
    got = interleaved(probe.m, [good.sha, bad.sha], q.model, q.variant, settings.rounds, probe.into / "ends")
    probe.good, probe.bad = pooled(metric, got[good.sha]), pooled(metric, got[bad.sha])
    if not probe.good or not probe.bad:
        say(f"bisect: cannot measure {metric.name} at both ends")
        return None
    c = compare(probe.good, probe.bad)
    say(f"bisect: {metric.name} {c.before:.4g} at {good.label}, {c.after:.4g} at {bad.label} ({c.ratio:.2f}x, "
        f"p={c.p_value:.2g}); {len(candidates)} commit(s) in between")
    if c.p_value >= settings.confirm_alpha:
        say("bisect: the ends do not differ when measured again interleaved: nothing to bisect")
        return None
    lo, hi = -1, len(candidates)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        side = probe.place(candidates[mid])
        if side is None:
            return None
        lo, hi = (lo, mid) if side == "bad" else (mid, hi)
    return _found(ctx, q, candidates[hi] if hi < len(candidates) else bad)


def _found(ctx: FrameworkContext, q: Question, first_bad) -> str:
    ctx.say(f"bisect: first commit with the new {q.metric.name}: {first_bad.sha} {first_bad.label} "
            f"{first_bad.subject}")
    return first_bad.sha


@dataclass
class Probe:
    """Places a commit between two re-measured ends by its fresh samples; the ends' samples once measured."""

    m: Remeasurer
    q: Question
    settings: Settings
    into: Path
    good: list[float] = field(default_factory=list)
    bad: list[float] = field(default_factory=list)

    def place(self, revision) -> str | None:
        """"good" or "bad": the probe's samples differ from one end's and not from the other's; measured
        again while it is not clear, then placed by the nearer median (and said so). None if it cannot be
        measured."""
        say, alpha, samples = self.m.say, self.settings.confirm_alpha, []
        for attempt in range(1, PROBE_ATTEMPTS + 1):
            rec = self.m.measure(revision.sha, self.q.model, self.q.variant, self.into / f"probe-{attempt}")
            if rec is None or not pooled(self.q.metric, [rec]):
                say(f"bisect: {revision.label} could not be measured; stopping")
                return None
            samples += pooled(self.q.metric, [rec])
            p_good, p_bad = mann_whitney(self.good, samples), mann_whitney(self.bad, samples)
            like_good, like_bad = p_bad < alpha <= p_good, p_good < alpha <= p_bad
            value = statistics.median(samples)
            if like_good or like_bad:
                side = "bad" if like_bad else "good"
                say(f"bisect: {revision.label}: {value:.4g} -> {side} (p={min(p_good, p_bad):.2g} against the "
                    f"other end, {len(samples)} samples)")
                return side
            say(f"bisect: {revision.label}: {value:.4g} not clear yet (p={p_good:.2g} vs good, {p_bad:.2g} vs "
                f"bad); measuring again")
        near_bad = abs(math.log(value / statistics.median(self.bad))) < \
            abs(math.log(value / statistics.median(self.good)))
        side = "bad" if near_bad else "good"
        say(f"bisect: {revision.label}: placed {side} by the nearer median, not with confidence")
        return side


@holding_lock("bisect")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    fw = config.framework(args.framework)
    try:
        ctx = open_to_measure(config, layout, fw, print)
        found = bisect(ctx, Question(args.model, args.variant or fw.variant_names[0], BY_NAME[args.metric],
                                     args.good, args.bad, args.repeats))
    except (HistoryError, NotReady) as exc:  # a commit the history lacks, no history, no prover: one line
        print(f"bisect: {exc}")
        return 2
    publish.publish_all(config, layout)
    return 0 if found else 1
