"""The verdict engine: where a metric changed along a framework's history, judged by the metric's kind.

The series come from the tracker's own records (results/<fw>/records/<sha>/<model>--<variant>.json), never
from the published site: every sample of every stage is there, not one number per commit.

- A deterministic metric (sizes, logrows, constraints, accuracy) changes where two neighbouring revisions
  give different values: reported at that commit, before and after, whatever the size.
- A measured metric (wall or CPU time of a stage, peak memory: several samples a revision, or one) is cut
  by binary segmentation. Where a segment is split comes from all of its samples (the energy distance of
  the log samples either side, `split_order`), never from a p-value: with a few revisions a side every
  boundary near a step separates its windows completely, and a Mann-Whitney p-value is then the same
  smallest value for all of them. The split is then tested on the revisions just before and just after
  (a window of WINDOW_RUNS a side), one value a revision, the median of its samples: the samples of one
  run share that run's load (a run's offset spreads wall time by 0.29 here, its repeats around it by
  0.17), so they are one observation, not three (counted as three, some 360 boundaries per 1,000 commits
  that did not move passed the screen in the corpus, bench/verdict_corpus.py). Beyond the minimum effect
  of the metric's family and p below `detect_alpha`, it is a candidate; beyond the minimum effect with
  every value apart but too few revisions for any test to reach alpha, it is "too early to tell", and so
  is any split within two revisions of either end of the series (the newest commit above all) that moved
  by the minimum effect without a significant test: a run or two cannot tell a step from their load, and
  the nightly re-measures the pair that night. Only re-measuring the pair interleaved on one machine
  (tracker.report.confirm) turns either into a regression; a pair not confirmed has the revisions three
  either side re-measured as one pair (its span) before it is called noise, and where the span moved, its
  pairs one by one (`searched`); it takes a pair near it confirmed for its metric, and a pair confirmed
  where no change stands is a change of its own (`confirmed_alone`). A segment no split cuts is searched
  for a change undone two or three revisions later (`bump`), which binary segmentation alone reads as flat.

Four modules, in the order a series goes through them: tracker.report.change (the settings, `Point`,
`Change`), tracker.report.segment (where a series steps), this one (the changes of every metric of a
framework's records, with what is beside them), tracker.report.search (a step settled by its
re-measurements, and where it is looked for when its pair was not confirmed).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Sequence

from tracker import records
from tracker.metrics import METRICS, Metric, cpu_metric, samples
from tracker.report.change import Change, Point, Settings
from tracker.report.probe import cpu_bound, spread
from tracker.report.search import (confirmed_alone, mark_quiet, neighbours, quiet_pairs, reach, settle,
                                   span_of, spans_beyond)
from tracker.report.segment import revisions_needed, segment
from tracker.report.stats import compare, samples_needed
from tracker.store.paths import REVISIONS_FILE
from tracker.store.state import history_order, read_index

SPREAD_FACTOR = 3       # wall spread this many times the CPU spread (plus the floor): wall samples stretched
SPREAD_FLOOR = 0.05


# --- series ----------------------------------------------------------------------------------------------

def revision_order(results_dir: Path) -> list[str]:
    """The framework's revisions that were run, oldest first along the branch (as the site orders them),
    whatever the commit dates say."""
    known = (read_index(results_dir / REVISIONS_FILE)[0] or {}).get("revisions", {})  # torn: no order
    return sorted(known, key=lambda sha: history_order(known[sha]))


def load_series(records_dir: Path, order: Sequence[str],
                unreadable: list[Path] | None = None) -> dict[tuple[str, str], list[records.ModelResult]]:
    """(model, variant) -> its records in history order; the records that could not be read into `unreadable`."""
    out: dict[tuple[str, str], list[records.ModelResult]] = {}
    for sha in order:
        for rec in records.load_revision(records_dir, sha, unreadable):
            out.setdefault((rec.model, rec.variant), []).append(rec)
    return out


def points(metric: Metric, recs: Sequence[records.ModelResult]) -> list[Point]:
    return [Point(r.revision, tuple(v)) for r in recs if (v := samples(metric, r))]


# --- finding changes ---------------------------------------------------------------------------------------

def deterministic_changes(series: list[Point]) -> list[int]:
    """Indices k where series[k] differs from series[k - 1]: every change, whatever its size."""
    return [k for k in range(1, len(series)) if series[k].values[0] != series[k - 1].values[0]]


# --- what a step is beside: the same stage's CPU time -------------------------------------------------------

def disagreement(wall_a: Sequence[float], wall_b: Sequence[float], cpu_a: Sequence[float],
                 cpu_b: Sequence[float], only_stretched: bool = False) -> str | None:
    """Why the wall samples of a CPU-bound stage (`cpu_bound`) cannot be trusted, or None. A neighbour on a
    shared machine stretches wall time and leaves the CPU time of a CPU-bound prover where it was: wall
    spread far above CPU spread, or a wall ratio the CPU time does not show. The verdict then rests on CPU
    time. `only_stretched`: only a spread far above the CPU's counts, where a ratio the CPU time does not
    show is as likely the stage's own (it started to wait: a sleep, I/O), as for a wall step too early to
    tell (`the_machine_moved`). A verdict paired by round is not judged by this at all
    (tracker.report.confirm.rest_on_cpu)."""
    if not (wall_a and wall_b and cpu_a and cpu_b) or statistics.median(wall_a) <= 0:
        return None
    if not cpu_bound([wall_a, wall_b], [cpu_a, cpu_b]):
        return None  # the stage waits (I/O, sleep): wall time is its own evidence
    wall_r = statistics.median(wall_b) / statistics.median(wall_a)
    cpu_r = statistics.median(cpu_b) / statistics.median(cpu_a) if statistics.median(cpu_a) > 0 else 1.0
    wall_s, cpu_s = max(spread(wall_a), spread(wall_b)), max(spread(cpu_a), spread(cpu_b))
    stretched = wall_s > SPREAD_FACTOR * cpu_s + SPREAD_FLOOR
    unseen = abs(math.log(wall_r)) > SPREAD_FLOOR and abs(math.log(cpu_r)) < abs(math.log(wall_r)) / 2
    if not (stretched or (unseen and not only_stretched)):
        return None
    return (f"wall and CPU time disagree (wall {wall_r:.2f}x, spread {wall_s:.0%}; CPU {cpu_r:.2f}x, "
            f"spread {cpu_s:.0%}): judged on CPU time")


def changes_of(framework: str, recs: Sequence[records.ModelResult], settings: Settings,
               confirmations: dict[str, dict] | None = None) -> list[Change]:
    """Every change of every metric in one (model, variant) series, measured steps settled by the
    re-measurements in `confirmations` (none: as the records alone place them)."""
    if not recs:
        return []
    model, variant = recs[0].model, recs[0].variant
    by_sha = {r.revision: r for r in recs}
    out = []
    every = {metric.name: points(metric, recs) for metric in METRICS}
    for metric in METRICS:
        series = every[metric.name]
        if metric.measured:
            out += measured_changes(framework, model, variant, metric, series, settings, by_sha)
        else:
            for k in deterministic_changes(series):
                out.append(Change(framework, model, variant, metric, series[k - 1], series[k]))
    confirmations = confirmations or {}
    quiet = {m.name: quiet_pairs(model, variant, m, every[m.name], confirmations, settings.effect(m))
             for m in METRICS if m.measured}
    for c in out:
        c.quiet = quiet.get(c.metric.name, frozenset())
    walls = [c for c in out if cpu_metric(c.metric) is not None]
    _beside_and_settled([c for c in out if cpu_metric(c.metric) is None], every, confirmations)
    rose = {(c.metric.name, c.good.sha, c.bad.sha) for c in out if c.metric.effect == "cpu_time" and c.worse}
    rose |= {(c.metric.name, *c.moved_from.split("|")[2:]) for c in out
             if c.metric.effect == "cpu_time" and c.worse and c.moved_from}
    for wall in walls:
        wall.cpu_stepped = (cpu_metric(wall.metric).name, wall.good.sha, wall.bad.sha) in rose
    _beside_and_settled(walls, every, confirmations)
    # where the CPU time stepped once settled: a CPU step moved to a neighbouring pair takes its wall look along
    out += _beside_and_settled(mark_quiet(wall_where_cpu_stepped(out, every), quiet), every, confirmations)
    out += _beside_and_settled(mark_quiet(confirmed_alone(out, every, confirmations, settings, quiet), quiet),
                               every, confirmations)
    out += spans_beyond(out, every, confirmations, settings)
    return [c for c in out if not the_machine_moved(c, settings)]


def the_machine_moved(change: Change, settings: Settings) -> bool:
    """A wall step too early to tell whose wall samples were stretched far beyond the CPU's and whose CPU
    time moved less than its minimum effect: a neighbour stretched one run (README command 1 beside other
    work: wall 3.05x, spread 80 %, CPU 1.04x), not the framework. Listed, it would send a reader after the
    machine; a candidate is left for its re-measurement to settle, which it does on CPU time. A wall rise
    the CPU time does not show, its samples no wider than the CPU's, is a stage that started to wait as
    often as a neighbour: it is re-measured (the corpus lost wait steps at the newest commits otherwise)."""
    cpu = cpu_metric(change.metric)
    return (change.status == "too_early" and cpu is not None and change.stretched
            and change.cpu_ratio is not None and change.cpu_ratio > 0
            and abs(math.log(change.cpu_ratio)) < math.log1p(settings.effect(cpu)))


def _beside_and_settled(changes: list[Change], every: dict[str, list[Point]], confirmations: dict[str, dict]) \
        -> list[Change]:
    """`changes`, each with the CPU time beside it and settled by its re-measurement (if one was made)."""
    for change in changes:
        change.cpu_ratio = cpu_beside(change, every)
        change.disagreement = wall_beside(change, every)
        change.stretched = wall_beside(change, every, only_stretched=True) is not None
        settle(change, confirmations)
    return changes


def measured_changes(framework: str, model: str, variant: str, metric: Metric, series: list[Point],
                     settings: Settings, by_sha: dict) -> list[Change]:
    """The steps of one measured metric as changes: candidates, or too early to tell."""
    effect, alpha = settings.effect(metric), settings.detect_alpha
    out = []
    found = segment(series, effect, alpha)
    for b in found:
        c = Change(framework, model, variant, metric, series[b.k - 1], series[b.k], b.comparison,
                   "candidate" if b.decided else "too_early", recs=by_sha)
        c.neighbours = neighbours(series, b.k, b.comparison.ratio > 1, effect)
        c.reach = reach(series, b.k, b.comparison.ratio > 1, effect)
        c.span = span_of(series, b.k, [other.k for other in found if other.k != b.k])
        c.pending = [(c.good, c.bad)]  # to re-measure, until a confirmation settles it
        if not b.decided:
            c.needs = None if b.bump else revisions_needed(series, b.k, alpha)
            c.note = too_early_note(c.needs, alpha)
        out.append(c)
    return out


def wall_where_cpu_stepped(changes: list[Change], every: dict[str, list[Point]]) -> list[Change]:
    """A wall-time candidate at every pair where the same stage's CPU time stepped and the wall time's own
    segmentation placed none. The prover's own work shows in both clocks, but a run's load spreads wall time
    far more (0.29 against 0.11 on the log scale here), so its step is often placed a commit off or not at
    all; the pair is re-measured for the CPU step anyway, and the wall verdict there is the wall samples' own."""
    out = []
    for wall in (m for m in METRICS if m.measured and cpu_metric(m) is not None):
        cpu = cpu_metric(wall)
        placed = {(c.good.sha, c.bad.sha) for c in changes if c.metric.name == wall.name}
        values = {p.sha: p for p in every.get(wall.name, [])}
        for c in changes:
            if c.metric.name != cpu.name or not c.worse or (c.good.sha, c.bad.sha) in placed \
                    or c.good.sha not in values or c.bad.sha not in values:
                continue
            placed.add((c.good.sha, c.bad.sha))
            good, bad = values[c.good.sha], values[c.bad.sha]
            out.append(Change(c.framework, c.model, c.variant, wall, good, bad, compare(good.values, bad.values),
                              "candidate", pending=[(good, bad)], from_cpu=True, recs=c.recs))
    return out


def too_early_note(needs: int | None, alpha: float) -> str:
    """What a step too early to tell waits for, and why no test can tell yet."""
    wait = f"{needs} more revision(s) or a re-measurement" if needs else "a re-measurement"
    return (f"too early to tell: {wait} needed; too few samples (needs n >= {samples_needed(alpha)} a side "
            f"for p < {alpha:g})")


def cpu_beside(change: Change, every: dict[str, list[Point]]) -> float | None:
    """For a wall-time change, how the same stage's CPU time moved over the same pair: a wall step with CPU
    time unchanged is what a neighbour (or waiting) looks like, a CPU step is the prover's own work."""
    cpu = cpu_metric(change.metric)
    if cpu is None:
        return None
    values = {p.sha: p.values for p in every.get(cpu.name, [])}
    before, after = values.get(change.good.sha), values.get(change.bad.sha)
    if not before or not after or statistics.median(before) <= 0:
        return None
    return statistics.median(after) / statistics.median(before)


def wall_beside(change: Change, every: dict[str, list[Point]], only_stretched: bool = False) -> str | None:
    """For a wall-time change, whether its pair's wall and CPU samples disagree (see `disagreement`)."""
    cpu = cpu_metric(change.metric)
    if cpu is None:
        return None
    values = {p.sha: p.values for p in every.get(cpu.name, [])}
    return disagreement(change.good.values, change.bad.values, values.get(change.good.sha, ()),
                        values.get(change.bad.sha, ()), only_stretched)


def framework_changes(framework: str, results_dir: Path, settings: Settings, confirmations: dict[str, dict],
                      order: Sequence[str] | None = None, unreadable: list[Path] | None = None) -> list[Change]:
    """Every change in a framework's records, measured steps settled by their re-measurements if made.
    `order` as the reader checked it (tracker.store.state.StateRead), else revisions.json as it is."""
    order = revision_order(results_dir) if order is None else order
    out: dict[tuple[str, str], Change] = {}
    for recs in load_series(results_dir / "records", order, unreadable).values():
        for change in changes_of(framework, recs, settings, confirmations):
            kept = out.get((change.metric.name, change.pair))
            if kept is None or _kept_first(change) < _kept_first(kept):  # one change a pair
                out[(change.metric.name, change.pair)] = change
    return list(out.values())


def _kept_first(change: Change) -> tuple[bool, int]:
    """Of two changes of one pair, the confirmed one, then the one `_placed_by` its own series."""
    return change.status != "confirmed", _placed_by(change)


def _placed_by(change: Change) -> int:
    """Which of two changes of one pair to keep: placed there by its own series (0), moved there from a
    neighbour (1, the note says where it was first placed), looked for there after the CPU time (2)."""
    return 1 if change.moved_from else 2 if change.from_cpu else 0


