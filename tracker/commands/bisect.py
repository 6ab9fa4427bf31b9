"""`zkml-tracker bisect`: find the single commit where a metric changed, between a good and a bad commit.

Benchmarks only the commits it needs (binary search over the first-parent commits in between), only
the affected model and variant, then publishes.

A deterministic metric (sizes, circuit, accuracy) is read from the records (made where missing): a commit
is bad when its value is no longer the good commit's. A timing or memory metric is judged on fresh samples
only: both ends are first measured again, interleaved, to see that they differ at all; then each probe is
measured in rounds of its own with both ends (good, probe, bad, `--rounds` times), so that whatever load
the machine is under falls on the three alike, and placed by `tracker.report.probe.judge_probe` against
both. A probe like neither end (or like both) is measured again, up to PROBE_ATTEMPTS times, and never
called bad: if it stays in between, bisect stops and says so (two steps between the ends, or noise). For
the wall time of a CPU-bound stage whose wall and CPU samples disagree (a neighbour stretched the wall
clock), every judgement rests on the stage's CPU time, and the output says so.
"""
from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from tracker import records
from tracker.publish.service import publish_all
from tracker.config import Config
from tracker.history import HistoryError, select
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.metrics import BY_NAME, Metric, samples, summary
from tracker.records import ModelResult
from tracker.report.confirm import pooled
from tracker.run.remeasure import Remeasurer, interleaved
from tracker.report.probe import BAD, NEITHER, differs, judge_probe, too_few_samples, weigh_clocks
from tracker.report.change import Settings, load_settings
from tracker.run.context import FrameworkContext, NotReady, open_to_measure
from tracker.run.runner import Request, run_revision
from tracker.store import asv as sink
from tracker.store.paths import FrameworkStore

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
    p.add_argument("--rounds", type=int, metavar="N",
                   help="interleaved rounds of each measurement of a timing or memory metric (default: asv.conf.json)")
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
    rounds: int | None = None


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
    request = Request(frameworks=[ctx.fw.name], models=[q.model], variants=[q.variant], repeats=q.repeats)
    sink.prepare_machine(FrameworkStore(ctx.layout, ctx.fw.name))

    def value(revision) -> float | None:
        path = FrameworkStore(ctx.layout, ctx.fw.name).record(revision.sha, q.model, q.variant)
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
    if v_good == v_bad:  # nothing changed between the ends: naming a commit would be a guess
        say(f"bisect: {name} is the same at both ends: nothing to bisect")
        return None
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
    """The bisection of a timing or memory metric, on fresh samples, each probe judged against both ends
    measured in the same rounds."""
    settings = load_settings(ctx.config.root / "asv.conf.json")
    good, bad = ends
    into = FrameworkStore(ctx.layout, ctx.fw.name).bisected(good.sha, bad.sha, q.model, q.variant)
    probe = Probe(Remeasurer(ctx), q, settings, q.rounds or settings.rounds, into, good, bad)
    if not probe.ends_differ(len(candidates)):
        return None
    lo, hi = -1, len(candidates)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        side = probe.place(candidates[mid])
        if side is None:
            return None
        lo, hi = (lo, mid) if side == BAD else (mid, hi)
    return _found(ctx, q, candidates[hi] if hi < len(candidates) else bad)


def _found(ctx: FrameworkContext, q: Question, first_bad) -> str:
    ctx.say(f"bisect: first commit with the new {q.metric.name}: {first_bad.sha} {first_bad.label} "
            f"{first_bad.subject}")
    return first_bad.sha


@dataclass
class Probe:
    """Places commits between the good and the bad end, each measured in rounds of its own with both ends."""

    m: Remeasurer
    q: Question
    settings: Settings
    rounds: int
    into: Path
    good: object  # the good end's Revision
    bad: object

    def say(self, line: str) -> None:
        self.m.say(f"bisect: {line}")

    def weigh(self, groups: list[list[ModelResult]], verdict, rounds: bool = False) -> tuple[str, str]:
        return weigh_clocks(self.q.metric, groups, verdict, self.settings.effect, rounds=rounds)

    def medians(self, groups: list[list[ModelResult]]) -> str:
        return ", ".join(f"{statistics.median(xs):.4g}" if xs else "-" for xs in
                         ([x for r in g for x in samples(self.q.metric, r)] for g in groups))

    def ends_differ(self, between: int) -> bool:
        """Both ends measured again, interleaved: is there a change to look for, and can these rounds tell?
        Ends not told apart yet are measured again (up to PROBE_ATTEMPTS looks), as a probe is: one value a
        run of a noisy metric may need more than one look to show a real step."""
        name, alpha, good, bad = self.q.metric.name, self.settings.asked_alpha, self.good, self.bad
        groups: list[list[ModelResult]] = [[], []]
        for look in range(PROBE_ATTEMPTS):
            self.say(f"measuring both ends again, interleaved, {self.rounds} round(s)" + (" more" if look else ""))
            got = interleaved(self.m, [good.sha, bad.sha], self.q.model, self.q.variant, self.rounds,
                              self.into / "ends", look * self.rounds + 1)
            groups = [groups[0] + got[good.sha], groups[1] + got[bad.sha]]
            counts = [len(pooled(self.q.metric, g)) for g in groups]
            if not all(counts):
                self.say(f"cannot measure {name} at both ends")
                return False
            few = too_few_samples(*counts, self.rounds * (look + 1), alpha)
            if few:
                self.say(f"{name} at {good.label} and {bad.label}: {few}")
                return False
            says, why = self.weigh(groups, lambda xs, e: "differ" if differs(xs[0], xs[1], e, alpha) else "alike")
            self.say(f"{name} {self.medians(groups)} at {good.label}, {bad.label} (n={counts[0]}+{counts[1]}); "
                     f"{between} commit(s) in between" + (f"; {why}" if why else ""))
            if says == "differ":
                return True
        self.say("the ends do not differ when measured again interleaved: nothing to bisect")
        return False

    def place(self, revision) -> str | None:
        """"good" or "bad" by judge_probe over rounds of (good, probe, bad); measured again while it is like
        neither end; None when it cannot be measured or stays like neither (never "bad" on a guess)."""
        alpha, shas = self.settings.asked_alpha, [self.good.sha, revision.sha, self.bad.sha]
        groups: list[list[ModelResult]] = [[], [], []]
        for attempt in range(1, PROBE_ATTEMPTS + 1):
            got = interleaved(self.m, shas, self.q.model, self.q.variant, self.rounds,
                              self.into / f"probe-{revision.short}-{attempt}")
            for group, sha in zip(groups, shas):
                group += got[sha]
            if not pooled(self.q.metric, groups[1]):
                self.say(f"{revision.label} could not be measured; stopping")
                return None
            side, why = self.weigh(groups, lambda xs, e: judge_probe(*xs, e, alpha), rounds=True)
            seen = f"{self.q.metric.name} {self.medians(groups)} (good, {revision.label}, bad)"
            self.say(f"{revision.label}: {seen} -> {side}" + (f"; {why}" if why else ""))
            if side != NEITHER:
                return side
            if attempt < PROBE_ATTEMPTS:
                self.say(f"{revision.label} is like neither end yet: measuring it again with both ends")
        self.say(f"{revision.label} stays like neither end after {PROBE_ATTEMPTS * self.rounds} rounds: more than "
                 f"one step between the ends, or too noisy here; bisect {self.good.label}..{revision.label} and "
                 f"{revision.label}..{self.bad.label} apart, or with more --rounds. Stopping.")
        return None


@holding_lock("bisect")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    fw = config.framework(args.framework)
    try:
        ctx = open_to_measure(config, layout, fw, print)
        found = bisect(ctx, Question(args.model, args.variant or fw.variant_names[0], BY_NAME[args.metric],
                                     args.good, args.bad, args.repeats, args.rounds))
    except (HistoryError, NotReady) as exc:  # a commit the history lacks, no history, no prover: one line
        print(f"bisect: {exc}")
        return 2
    publish_all(config, layout)
    return 0 if found else 1
