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
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from tracker import records
from tracker.config import ConfigError
from tracker.metrics import METRICS, Metric, cpu_metric, samples
from tracker.report.probe import cpu_bound, spread
from tracker.report.stats import Comparison, can_decide, compare, mann_whitney, samples_needed
from tracker.store.paths import REVISIONS_FILE
from tracker.store.state import history_order, read_index

SETTINGS_KEY = "tracker_verdicts"
# minimum effects, as a fraction of the old value; why these numbers: README "How a verdict is made"
DEFAULT_MIN_EFFECT = {"wall_time": 0.15, "cpu_time": 0.10, "memory": 0.10}
WINDOW_RUNS = 5         # a boundary is tested on at most this many revisions either side, one value each
NEIGHBOUR_REACH = 2     # a step not confirmed at its pair is looked for this many revisions either side ...
NEIGHBOURS = 2          # ... at this many pairs at most
BUMP_RUNS = (2, 3)       # a segment found flat is searched for a run of this many revisions apart from both sides
SIDE_REACH = 3          # ... or this many either side, its span (`span_of`), the side its level points to first
PLACE_MAX_SAMPLES = 1500  # beyond this many samples in a segment, a split is placed on one median a revision
NEAR_END = 3            # a boundary with fewer revisions than this between it and an end of the series moved
                        # by the minimum effect is too early to tell (the samples of one run share its load)
SPREAD_FACTOR = 3       # wall spread this many times the CPU spread (plus the floor): wall samples stretched
SPREAD_FLOOR = 0.05
NOT_CHOSEN = frozenset({"calibration_data", "calibration_samples"})  # inputs of the run, not the framework's choices


@dataclass(frozen=True)
class Settings:
    """How sure a verdict must be; from the "tracker_verdicts" table of asv.conf.json."""

    min_effect: dict = field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))
    # the records only choose what to re-measure (a candidate is never reported before its re-measurement,
    # tracker.report.confirm, decides at confirm_alpha), so their test screens rather than decides: a step
    # the records show at p < 0.05 is worth the rounds; a stricter screen loses real steps of a noisy metric
    # (a run's own offset spreads wall time by 0.29 here) before anyone re-measures them
    detect_alpha: float = 0.05
    # a nightly re-measures many pairs that did not move (the screen above lets a few in each night, and a
    # run or two at either end of a series cannot tell a step from its load), so the rise it reports must be
    # surer than one pair alone would need: the corpus re-measures some 1,250 such pairs for every 500 real
    # steps, and at 0.005 wall time's precision was 97.2 % on seed 2 (docs/verdicts.md)
    confirm_alpha: float = 0.003
    # a question a user asks of one pair (compare, and bisect's ends and probes) has no such multitude
    asked_alpha: float = 0.01
    rounds: int = 5
    confirm_max: int = 10

    def effect(self, metric: Metric) -> float:
        return float(self.min_effect.get(metric.effect, 0.10))


def load_settings(shared_config: Path) -> Settings:
    """The verdict settings of the shared asv.conf.json; one clear error naming the field if one is wrong."""
    from tracker.run.asv import read_shared_config

    if not shared_config.exists():  # the defaults; asv itself will ask for the file when it runs
        return Settings()
    table = read_shared_config(shared_config).get(SETTINGS_KEY, {})
    if not isinstance(table, dict):
        raise ConfigError(shared_config, None, SETTINGS_KEY, "must be a table")
    defaults = Settings()
    effects = table.get("min_effect", {})
    if not isinstance(effects, dict) or not all(k in DEFAULT_MIN_EFFECT and _fraction(v) for k, v in effects.items()):
        raise ConfigError(shared_config, None, f"{SETTINGS_KEY}.min_effect",
                          f"a table of {', '.join(DEFAULT_MIN_EFFECT)} to fractions between 0 and 1")
    values = {}
    for name, check, hint in (("detect_alpha", _fraction, "a fraction between 0 and 1"),
                              ("confirm_alpha", _fraction, "a fraction between 0 and 1"),
                              ("asked_alpha", _fraction, "a fraction between 0 and 1"),
                              ("rounds", _count, "a whole number of at least 1"),
                              ("confirm_max", _count, "a whole number of at least 1")):
        if name in table:
            if not check(table[name]):
                raise ConfigError(shared_config, None, f"{SETTINGS_KEY}.{name}", f"must be {hint}")
            values[name] = table[name]
    unknown = set(table) - {"min_effect", *values}
    if unknown:
        raise ConfigError(shared_config, None, f"{SETTINGS_KEY}.{sorted(unknown)[0]}", "unknown setting")
    return Settings({**defaults.min_effect, **effects}, **values)


def _fraction(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


@dataclass(frozen=True)
class Point:
    """One revision's values of one metric: the samples of a timing, or the one number."""

    sha: str
    values: tuple[float, ...]


@dataclass
class Change:
    """A metric moved between two neighbouring measured revisions, `good` then `bad`."""

    framework: str
    model: str
    variant: str
    metric: Metric
    good: Point
    bad: Point
    comparison: Comparison | None = None   # measured metrics only
    status: str = "changed"  # deterministic: changed; measured: candidate, confirmed, not_confirmed
    confirmation: dict | None = None
    remeasured: bool = False  # its pair was measured again (a metric with no fresh samples stays a candidate)
    cpu_ratio: float | None = None  # beside a wall-time change: the same stage's CPU time, same pair
    disagreement: str | None = None  # beside a wall-time change: why its wall samples are not to be trusted
    stretched: bool = False  # ... and whether they were stretched (spread far above the CPU samples')
    needs: int | None = None  # too early: how many more revisions would decide (None: only a re-measurement)
    neighbours: list = field(default_factory=list)  # pairs up to two revisions off where the step could be (Point, Point)
    reach: list = field(default_factory=list)  # (offset, Point, Point, plausible): pairs up to SIDE_REACH off, best first
    span: tuple | None = None  # (Point, Point): the revisions either end of its reach, re-measured as one pair
    pending: list = field(default_factory=list)  # pairs still to re-measure before this change is settled
    moved_from: str | None = None  # the pair it was first placed at, when a neighbour was confirmed instead
    from_cpu: bool = False  # a wall-time step looked for where the same stage's CPU time stepped
    cpu_stepped: bool = False  # a wall-time step whose pair is also where the same stage's CPU time rose
    from_span: bool = False  # looked for inside a span that rose, re-measured, beyond every step found in it
    quiet: frozenset = frozenset()  # pairs inside a span of this metric re-measured that did not rise (`quiet_pairs`)
    note: str = ""  # what a reader must know besides the figures: too early to tell, and why
    recs: dict = field(default_factory=dict, repr=False)  # sha -> record, for what the framework chose

    @property
    def explained(self) -> list[str]:
        """What the framework chose differently at this commit (measured steps only)."""
        if not self.metric.measured:
            return []
        return explain(self.recs.get(self.good.sha), self.recs.get(self.bad.sha))

    @property
    def worse(self) -> bool:
        """Lower is better, but for the metrics that say otherwise (the accuracies against true labels)."""
        if self.status == "confirmed" and self.confirmation:  # a re-measurement confirms a rise only
            rose = self.confirmation.get("ratio", 1.0) > 1
        elif self.from_span:  # a rise was measured across its span; its own pair is what is looked at
            rose = not self.metric.higher_is_better
        elif self.comparison is not None:
            rose = self.comparison.ratio > 1
        else:
            rose = self.bad.values[0] > self.good.values[0]
        return rose != self.metric.higher_is_better

    @property
    def screened_rise(self) -> bool:
        """Whether what chose this pair for re-measuring was a rise: its own records' step, or for a wall-time
        change, the CPU time's rise over the same pair (one run a side can show a 1.7x wall step as a fall). A confirmation tests a rise, and a pair is re-measured for every metric at once, so a metric
        whose records fell is tested there without having been chosen: its "rise" is not evidence."""
        return self.from_cpu or self.cpu_stepped or self.from_span or \
            (self.comparison is not None and self.comparison.ratio > 1)

    @property
    def pair(self) -> str:
        return pair_key(self.model, self.variant, self.good.sha, self.bad.sha)


def pair_key(model: str, variant: str, good: str, bad: str) -> str:
    return f"{model}|{variant}|{good}|{bad}"


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


@dataclass(frozen=True)
class Boundary:
    """A step of a measured series at index k, with its comparison on the windows either side.

    `decided` is False where the step moved by the minimum effect with every sample apart, but the windows
    hold too few samples for the test to reach alpha (the newest commit, or one near either end): too early
    to tell from the records, a re-measurement decides."""

    k: int
    comparison: Comparison
    decided: bool = True
    bump: bool = False  # one end of a short run apart from both sides (`bump`): more revisions will not tell


def segment(series: list[Point], min_effect: float, alpha: float, window: int = WINDOW_RUNS) -> list[Boundary]:
    """Steps by binary segmentation, oldest first. Each segment is split where its samples split best
    (`split_order`: every sample of the segment, not a window, so a saturated test cannot tie); the split is
    then tested on the windows either side. Significant: a step if beyond the minimum effect, and both
    sides are searched again. Not significant: the next best split is tried; none: the segment is flat."""
    found: list[Boundary] = []
    cut: list[int] = []  # splits whose sides differ significantly by less than the minimum effect
    pending = [(0, len(series))]
    while pending:
        lo, hi = pending.pop()
        for k in split_order(series, lo, hi):
            boundary, significant = judge_split(series, lo, hi, k, min_effect, alpha, window)
            if boundary is not None:
                found.append(boundary)
            elif significant:
                cut.append(k)
            if significant or boundary is not None:
                pending += [(lo, k), (k, hi)]
                break
        else:
            short = bump(series, lo, hi, min_effect, window)
            if short:
                found += short
                pending += [(lo, short[0].k), (short[1].k, hi)]
    return sorted(found + recut(series, cut, found, min_effect, alpha, window), key=lambda b: b.k)


def recut(series: list[Point], cut: list[int], found: list[Boundary], min_effect: float, alpha: float,
          window: int) -> list[Boundary]:
    """The splits made for a difference under the minimum effect, judged again between the steps found
    either side of them. A split's windows are laid before the steps beside it are known, so they can hold
    a change and its undoing (230 MB four times, 340 MB twice, 230 MB again: at the first split the later
    side's median is 230 MB and only the order of the samples differs), and once split there, the change
    is the edge of two segments, never a boundary of either."""
    def between(k: int) -> tuple[int, int]:
        return (max((b.k for b in found if b.k < k), default=0), min((b.k for b in found if b.k > k), default=len(series)))

    return [b for k in cut if (b := judge_split(series, *between(k), k, min_effect, alpha, window)[0])]


def bump(series: list[Point], lo: int, hi: int, min_effect: float, window: int) -> list[Boundary]:
    """In a segment where no split is a step: a run of BUMP_RUNS revisions each beyond every revision of the
    windows either side (at least two a side) by the minimum effect, as its two boundaries,
    too early to tell (only a re-measurement decides); the largest such run, or none. A change undone two
    revisions later (230 MB, 340 MB twice, 230 MB again) has the level it returns to on the far side of
    every split of the segment, so no split's windows separate, and binary segmentation reads it as flat."""
    best = None
    for m in BUMP_RUNS:
        for a in range(lo + 1, hi - m):
            inner = run_values(series, a, a + m, 1, m)
            before, after = run_values(series, a - 1, lo - 1, -1, window), run_values(series, a + m, hi, 1, window)
            if min(len(before), len(after)) < 2:
                continue
            height = _clearance(before + after, inner)
            if height >= math.log1p(min_effect) and (best is None or height > best[0]):
                best = (height, a, before, inner, after)
    if best is None:
        return []
    _, a, before, inner, after = best
    return [Boundary(a, compare(before, inner), decided=False, bump=True),
            Boundary(a + len(inner), compare(inner, after), decided=False, bump=True)]


def measured_steps(series: list[Point], min_effect: float, alpha: float,
                   window: int = WINDOW_RUNS) -> list[tuple[int, Comparison]]:
    """The significant steps of a measured series (index, comparison), oldest first."""
    return [(b.k, b.comparison) for b in segment(series, min_effect, alpha, window) if b.decided]


def judge_split(series: list[Point], lo: int, hi: int, k: int, min_effect: float, alpha: float,
                  window: int) -> tuple[Boundary | None, bool]:
    """(the step at k or None, whether the two sides differ significantly) on the windows either side, one
    value a revision (`run_values`): the samples of one run share its load, so a test that counts them as
    several sends boundaries that did not move to re-measurement by the hundred."""
    before, after = run_values(series, k - 1, lo - 1, -1, window), run_values(series, k, hi, 1, window)
    big = _log_ratio(before, after) >= math.log1p(min_effect)
    apart = big and _apart(before, after)
    at_end = (lo == 0 and k - lo < NEAR_END) or (hi == len(series) and hi - k < NEAR_END)
    one_run = min(k - lo, hi - k) < 2
    if (not one_run or not at_end) and mann_whitney(before, after) < alpha:
        return (Boundary(k, compare(before, after)) if big else None), True
    if one_run and not at_end:  # one run beside a step found, not significant: never too early to tell
        return None, False
    if big and at_end:  # a run or two at an end of the series cannot tell a step from their load: re-measure
        return Boundary(k, compare(before, after), decided=False), False
    if apart and not can_decide(len(before), len(after), alpha):
        return Boundary(k, compare(before, after), decided=False), False
    return None, False


def split_order(series: list[Point], lo: int, hi: int) -> list[int]:
    """The boundaries of series[lo:hi], best split first: by the energy distance between the log samples
    of the two sides (Szekely and Rizzo's statistic, as E-Divisive uses it), weighted by the sides' sizes.
    It grows with the size of the shift and with how many samples sit on the right side of it, so among
    boundaries that each separate their windows completely, the one where the series changes wins."""
    if hi - lo < 2:
        return []
    groups = [np.log(np.maximum(np.asarray(p.values, float), 1e-300)) for p in series[lo:hi]]
    if sum(len(g) for g in groups) > PLACE_MAX_SAMPLES:  # a very long series: one median a revision
        groups = [np.array([np.median(g)]) for g in groups]
    gains = energy_gains(np.concatenate(groups), np.cumsum([len(g) for g in groups])[:-1])
    return [lo + 1 + int(i) for i in np.argsort(-gains, kind="stable")]


def energy_gains(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """For each cut s of x into x[:s] and x[s:]: m n / (m + n) (2 E|a - b| - E|a - a'| - E|b - b'|).
    A side of one sample has no spread of its own: the other side's stands in for it."""
    n = len(x)
    total = np.zeros((n + 1, n + 1))
    total[1:, 1:] = np.abs(x[:, None] - x[None, :]).cumsum(0).cumsum(1)

    def block(r0: int, r1: int, c0: int, c1: int) -> float:
        return total[r1, c1] - total[r0, c1] - total[r1, c0] + total[r0, c0]

    out = []
    for s in cuts:
        m, k = int(s), n - int(s)
        between = block(0, m, m, n) / (m * k)
        own_a = block(0, m, 0, m) / (m * (m - 1)) if m > 1 else None
        own_b = block(m, n, m, n) / (k * (k - 1)) if k > 1 else None
        own_a, own_b = (own_a if own_a is not None else own_b or 0.0), (own_b if own_b is not None else own_a or 0.0)
        out.append(m * k / n * (2 * between - own_a - own_b))
    return np.asarray(out)


def _clearance(outside: list[float], inner: list[float]) -> float:
    """How far (log scale) every inner value lies beyond every outside value, above them all or below them
    all; 0 or less where they overlap."""
    if min(outside + inner) <= 0:
        return 0.0
    return max(math.log(min(inner) / max(outside)), math.log(min(outside) / max(inner)))


def _apart(before: list[float], after: list[float]) -> bool:
    """Every value after the boundary beyond every value before it, one way or the other."""
    return max(before) < min(after) or min(before) > max(after)


def _log_ratio(before: list[float], after: list[float]) -> float:
    """|log(median(after) / median(before))|, 0 where it has no meaning."""
    a, b = statistics.median(before), statistics.median(after)
    return abs(math.log(b / a)) if a > 0 and b > 0 else 0.0


def run_values(series: list[Point], start: int, stop: int, step: int, window: int = WINDOW_RUNS) -> list[float]:
    """One value a revision (the median of its samples) from `start` outwards (towards `stop`), at most
    `window` of them: a run is the unit that moves as a whole when the machine's load
    does, so the records are judged run by run."""
    return [statistics.median(series[i].values) for i in range(start, stop, step)[:window]]


def revisions_needed(series: list[Point], k: int, alpha: float, window: int = WINDOW_RUNS) -> int | None:
    """How many more revisions after the newest would let the windows at k reach alpha (None: no number of
    them would, the step is at the oldest end: only a re-measurement can tell)."""
    before, have = len(run_values(series, k - 1, -1, -1, window)), len(series) - k
    for extra in range(1, window + 1):
        if can_decide(before, min(have + extra, window), alpha):
            return extra
    return None


def neighbours(series: list[Point], k: int, rose: bool, min_effect: float) -> list[tuple[Point, Point]]:
    """Where the step may really be when the pair at k is not confirmed: of the boundaries j up to
    NEIGHBOUR_REACH revisions either side whose own two revisions moved the same way by half the minimum
    effect (a revision half way between the levels, as a loaded machine leaves one, moves the placement),
    or that `could_be_at` (a pair's own two runs of a noisy metric can fall across a real step), the
    NEIGHBOURS that split the revisions around k best (energy distance of one value a revision). One value
    a run of a metric as noisy as its step (peak memory: 0.13 against a 1.2x step) leaves a step placed two
    revisions off as often as one."""
    near = [j for j in range(k - NEIGHBOUR_REACH, k + NEIGHBOUR_REACH + 1)
            if j != k and 1 <= j < len(series) and plausible(series, j, k, rose, min_effect)]
    gain = split_gains(series, max(0, k - WINDOW_RUNS), min(len(series), k + WINDOW_RUNS))
    return [(series[j - 1], series[j]) for j in sorted(sorted(near, key=lambda j: -gain[j])[:NEIGHBOURS])]


def reach(series: list[Point], k: int, rose: bool, min_effect: float) -> list[tuple[int, Point, Point, bool]]:
    """Every pair up to SIDE_REACH revisions either side of a step placed at k, as (offset, good, bad,
    plausible), the pairs that split the revisions around k best first (energy distance of one value a
    revision): where to look once the re-measured pair at k says on which side the step lies (`side_of`).
    Plausible: the pair's own revisions moved the step's way, or the step `could_be_at` it."""
    gain = split_gains(series, max(0, k - WINDOW_RUNS - 1), min(len(series), k + WINDOW_RUNS + 1))
    near = [j for j in range(k - SIDE_REACH, k + SIDE_REACH + 1) if j != k and 1 <= j < len(series)]
    return [(j - k, series[j - 1], series[j], plausible(series, j, k, rose, min_effect))
            for j in sorted(near, key=lambda j: -gain[j])]


def split_gains(series: list[Point], lo: int, hi: int) -> dict[int, float]:
    """boundary j -> how well it splits the revisions lo..hi-1 in two (energy distance of one value a
    revision, the log of its median), for every j strictly inside."""
    x = np.log(np.maximum([statistics.median(p.values) for p in series[lo:hi]], 1e-300))
    return dict(zip(range(lo + 1, hi), energy_gains(x, np.arange(1, hi - lo))))


def plausible(series: list[Point], j: int, k: int, rose: bool, min_effect: float) -> bool:
    """Whether a step placed at k may really be at j: the pair's own revisions moved the step's way, or
    the step `could_be_at` it."""
    return _pair_moved(series, j, rose, min_effect) or could_be_at(series, j, k, rose, min_effect)


def side_of(change: "Change", judged: dict | None) -> int:
    """Where a step not confirmed at its pair lies, from the pair measured again: both its revisions at the
    level the records show before the step, it lies later (+1); at the level after it, earlier (-1); 0
    where the re-measurement cannot say (no levels, or a level no nearer one than the other). The records'
    one value a revision places a 1.2x memory step (against a run-to-run spread of 0.13) up to three
    revisions off; the pair's interleaved runs put its two revisions on one level far more surely."""
    if not judged or change.comparison is None:
        return 0
    old, new, before, after = (change.comparison.before, change.comparison.after, judged.get("before"),
                               judged.get("after"))
    if not all(isinstance(v, (int, float)) and v > 0 for v in (old, new, before, after)) or old == new:
        return 0
    level = (math.log(before) + math.log(after)) / 2
    to_old, to_new = abs(level - math.log(old)), abs(level - math.log(new))
    return 1 if to_old < to_new else -1 if to_new < to_old else 0


def looked_for(change: "Change", judged: dict | None) -> list[tuple[Point, Point]]:
    """The pairs to re-measure for a step not confirmed at its pair: the NEIGHBOURS best plausible pairs
    within SIDE_REACH on the side its re-measured pair points to, else its `neighbours`."""
    side = side_of(change, judged)
    if not side or not change.reach:
        return change.neighbours
    return [(good, bad) for offset, good, bad, plausible in change.reach if offset * side > 0 and plausible][:NEIGHBOURS]


def span_of(series: list[Point], k: int, placed: Sequence[int] = ()) -> tuple[Point, Point] | None:
    """The revisions either end of the pairs up to SIDE_REACH off a step placed at k, short of the other
    steps `placed` in the series: measured again as one pair, they say whether the step is anywhere near
    before its pairs are searched one by one. A span across another step measures both (a 2.4x step three
    commits after a 0.34x one measured 0.76x across both, and was called noise)."""
    lo = max([0, k - 1 - SIDE_REACH] + [j for j in placed if j < k])
    hi = min([len(series) - 1, k + SIDE_REACH] + [j - 1 for j in placed if j > k])
    return None if (lo, hi) == (k - 1, k) else (series[lo], series[hi])


def searched(change: "Change", judged: dict | None, confirmations: dict[str, dict]) -> list[tuple[Point, Point]]:
    """The pairs to re-measure next for a step not confirmed at its pair, none confirmed within reach: first
    its `span` (the revisions either end of its reach, as one pair); a span that did not move either says the
    step was noise. Confirmed, the step is somewhere in it, so its pairs are re-measured NEIGHBOURS at a
    time, those `looked_for` first, then the rest of its reach (best split first), until one is confirmed
    or none is left. One value a revision (peak memory), or wall samples as loaded as the step is large,
    place a step up to three revisions off and on either side of where the records put it."""
    measured = lambda good, bad: pair_key(change.model, change.variant, good.sha, bad.sha) in confirmations
    if change.span is None:
        return [(g, b) for g, b in looked_for(change, judged) if not measured(g, b)]
    span = confirmations.get(pair_key(change.model, change.variant, change.span[0].sha, change.span[1].sha))
    if span is None:
        return [change.span]
    if span.get("metrics", {}).get(change.metric.name, {}).get("verdict") != "confirmed":
        return []
    order = looked_for(change, judged) + [(g, b) for _, g, b, _ in change.reach]
    left = list(dict.fromkeys((g, b) for g, b in order if not measured(g, b)))
    return left[:NEIGHBOURS]


def _pair_moved(series: list[Point], j: int, rose: bool, min_effect: float) -> bool:
    a, b = list(series[j - 1].values), list(series[j].values)
    return _log_ratio(a, b) >= math.log1p(min_effect) / 2 and (statistics.median(b) > statistics.median(a)) == rose


def could_be_at(series: list[Point], j: int, k: int, rose: bool, min_effect: float) -> bool:
    """Whether a step placed at k may be at j instead: the two revisions before both and the two after
    both moved the way the step did by half the minimum effect, and every revision between j and k is
    nearer the level a step at j gives it (the new one if j comes first, the old one if k does)."""
    a, b = min(j, k), max(j, k)
    before, after = run_values(series, a - 1, -1, -1, 2), run_values(series, b, len(series), 1, 2)
    old, new = math.log(statistics.median(before)), math.log(statistics.median(after))
    if (new > old) != rose or abs(new - old) < math.log1p(min_effect) / 2:
        return False
    nearer_new = [abs(math.log(x) - new) < abs(math.log(x) - old) for x in run_values(series, a, b, 1, b - a)]
    return all(nearer_new) if j < k else not any(nearer_new)


# --- what a step is beside: CPU time, and the settings the framework chose ------------------------------

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


def explain(good: records.ModelResult | None, bad: records.ModelResult | None) -> list[str]:
    """What the framework chose differently at the bad revision (settings it used, circuit size): "logrows
    15 -> 16". The first thing a framework's author asks of a step."""
    if good is None or bad is None:
        return []
    out = []
    for table in ("settings", "circuit"):
        a, b = getattr(good, table), getattr(bad, table)
        for name in sorted(set(a) | set(b)):
            if name not in NOT_CHOSEN and a.get(name) != b.get(name):
                out.append(f"{name.removeprefix('used_')} {_setting(a.get(name))} -> {_setting(b.get(name))}")
    return out


def _setting(value) -> str:
    if value is None:
        return "none"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000 \
        else str(value)


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
    out += _beside_and_settled(_quiet(wall_where_cpu_stepped(out, every), quiet), every, confirmations)
    out += _beside_and_settled(_quiet(confirmed_alone(out, every, confirmations, settings, quiet), quiet),
                               every, confirmations)
    out += spans_beyond(out, every, confirmations, settings)
    return [c for c in out if not the_machine_moved(c, settings)]


def quiet_pairs(model: str, variant: str, metric: Metric, series: list[Point], confirmations: dict[str, dict],
                effect: float) -> frozenset[str]:
    """The pairs (keys) inside a span of the series re-measured for the metric that moved by less than half
    its minimum effect either way: measured end to end in interleaved rounds, the revisions around them say
    nothing moved there, so a confirmation of one of those pairs alone (asked for by another metric or
    another step) is the chance a confirmation's alpha allows, not a step. In the corpus, three of the six
    CPU-time reports where nothing had moved on seeds 3, 6 and 7 were such pairs, in spans at 0.96-1.03x. A
    span that fell may hold a rise beside the fall (a 1.5x wait step three commits before a 0.51x one, in
    a span at 0.74x), and is not quiet."""
    at = {p.sha: i for i, p in enumerate(series)}
    out = set()
    for key, entry in confirmations.items():
        m, v, good, bad = key.split("|")
        judged = entry.get("metrics", {}).get(metric.name)
        if (m, v) != (model, variant) or not judged or good not in at or bad not in at or at[bad] - at[good] < 2:
            continue
        ratio = judged.get("ratio", 0.0)
        if judged.get("verdict") != "confirmed" and 0 < ratio and abs(math.log(ratio)) < math.log1p(effect) / 2:
            out |= {pair_key(model, variant, series[j - 1].sha, series[j].sha) for j in range(at[good] + 1, at[bad] + 1)}
    return frozenset(out)


def _quiet(changes: list[Change], quiet: dict[str, frozenset]) -> list[Change]:
    for c in changes:
        c.quiet = quiet.get(c.metric.name, frozenset())
    return changes


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


def confirmed_alone(changes: list[Change], every: dict[str, list[Point]], confirmations: dict[str, dict],
                    settings: Settings, quiet: dict[str, frozenset] | None = None) -> list[Change]:
    """A change at every neighbouring pair of the series re-measured and confirmed for a measured metric
    that no change of that metric stands at: two steps side by side (a CPU step at 10 and a wait at 11) each
    had their pair confirmed, one change moved onto the first and the second's pair, re-measured as its
    neighbour, had nothing to report it by. Only where a rise chose it: the pair's own records rose by half
    the metric's minimum effect, or for a wall time, the same stage's CPU time was confirmed there too."""
    if not changes:
        return []
    first = changes[0]
    stood = {(c.metric.name, c.good.sha, c.bad.sha) for c in changes}

    def confirmed(metric: Metric, good: Point, bad: Point) -> bool:
        judged = confirmations.get(pair_key(first.model, first.variant, good.sha, bad.sha), {}).get("metrics", {})
        return judged.get(metric.name, {}).get("verdict") == "confirmed"

    out = []
    for metric in (m for m in METRICS if m.measured):
        series, cpu = every.get(metric.name, []), cpu_metric(metric)
        cpu_series = every.get(cpu.name, []) if cpu else []
        cpu_at = {(a.sha, b.sha): j for j, (a, b) in enumerate(zip(cpu_series, cpu_series[1:]), start=1)}
        for j in range(1, len(series)):
            good, bad = series[j - 1], series[j]
            if (metric.name, good.sha, bad.sha) in stood or not confirmed(metric, good, bad) \
                    or pair_key(first.model, first.variant, good.sha, bad.sha) in (quiet or {}).get(metric.name, ()):
                continue
            c = cpu_at.get((good.sha, bad.sha))
            cpu_too = c is not None and confirmed(cpu, good, bad) and _pair_moved(cpu_series, c, True, settings.effect(cpu))
            if cpu_too or _pair_moved(series, j, True, settings.effect(metric)):
                out.append(Change(first.framework, first.model, first.variant, metric, good, bad,
                                  compare(good.values, bad.values), "candidate", cpu_stepped=cpu_too, recs=first.recs))
    return out


def spans_beyond(changes: list[Change], every: dict[str, list[Point]], confirmations: dict[str, dict],
                 settings: Settings) -> list[Change]:
    """A step looked for inside every span (two revisions more than one apart, re-measured as one pair) whose
    rise was confirmed for a measured metric beyond what the changes of that metric inside it explain: none
    stands there, or those confirmed there rose less than the span by the minimum effect. A span is measured
    for every metric at once, so one asked for by another metric's step, or one that held a step found
    already, was read for that step alone, and the step beside it was lost (a 1.36x memory step at the
    newest commit, three commits after a 1.6x one, in the corpus). Only where the records rose across the
    span by half the minimum effect (a rise chose it); its pairs are then re-measured NEIGHBOURS at a time,
    best split first, and the first confirmed is the step. A pair's own confirmation still decides, so a
    span confirmed by chance reports nothing."""
    if not changes:
        return []
    first, out = changes[0], []
    for metric in (m for m in METRICS if m.measured):
        series = every.get(metric.name, [])
        at = {p.sha: i for i, p in enumerate(series)}
        mine = [c for c in changes if c.metric.name == metric.name]
        for key, entry in confirmations.items():
            model, variant, good, bad = key.split("|")
            judged = entry.get("metrics", {}).get(metric.name, {})
            if (model, variant) != (first.model, first.variant) or judged.get("verdict") != "confirmed" \
                    or at.get(bad, 0) - at.get(good, at.get(bad, 0)) < 2:
                continue
            lo, hi = at[good], at[bad]
            found = _inside_span(mine, at, lo, hi, judged.get("ratio", 1.0), settings.effect(metric))
            if found is not None and _rose_across(series, lo, hi, settings.effect(metric)):
                change = _looked_for_in_span(first, metric, series, lo, hi, found, confirmations)
                if change is not None:
                    out.append(change)
    return out


def _inside_span(mine: list[Change], at: dict[str, int], lo: int, hi: int, ratio: float,
                 effect: float) -> set[int] | None:
    """The pairs (by index) a metric's changes hold inside a span, or None where they explain its rise: one
    of them is still being looked for, or those confirmed rose as far as the span, within the minimum effect."""
    rose: dict[int, float] = {}  # pair -> its confirmed rise (two changes moved onto one pair count once)
    for c in mine:
        k = at.get(c.bad.sha)
        if k is None or not lo < k <= hi:
            continue
        rose.setdefault(k, 0.0)
        if c.pending and c.status in ("candidate", "too_early"):
            return None
        if c.status == "confirmed" and c.confirmation and c.confirmation.get("ratio", 0) > 0:
            rose[k] = max(rose[k], math.log(c.confirmation["ratio"]))
    explained = sum(rose.values())
    return None if ratio <= 0 or math.log(ratio) - explained < math.log1p(effect) else set(rose)


def _rose_across(series: list[Point], lo: int, hi: int, effect: float) -> bool:
    a, b = statistics.median(series[lo].values), statistics.median(series[hi].values)
    return b > a and _log_ratio(list(series[lo].values), list(series[hi].values)) >= math.log1p(effect) / 2


def _looked_for_in_span(first: Change, metric: Metric, series: list[Point], lo: int, hi: int, held: set[int],
                        confirmations: dict[str, dict]) -> Change | None:
    """The change a span that rose beyond its steps stands for: at the first of its other pairs confirmed
    for the metric (confirmed there), else pending on the next NEIGHBOURS of them not yet re-measured (best
    split first), else none: every pair measured again, none confirmed."""
    gain = split_gains(series, lo, hi + 1)
    pairs = [j for j in sorted(range(lo + 1, hi + 1), key=lambda j: -gain[j]) if j not in held]
    key = lambda j: pair_key(first.model, first.variant, series[j - 1].sha, series[j].sha)
    judged = lambda j: confirmations.get(key(j), {}).get("metrics", {}).get(metric.name, {})
    confirmed = [j for j in pairs if judged(j).get("verdict") == "confirmed"]
    waiting = [j for j in pairs if key(j) not in confirmations]
    if not confirmed and not waiting:
        return None
    j = confirmed[0] if confirmed else waiting[0]
    good, bad = series[j - 1], series[j]
    change = Change(first.framework, first.model, first.variant, metric, good, bad, compare(good.values, bad.values),
                    "candidate", from_span=True, recs=first.recs,
                    note=f"looked for in the span {series[lo].sha[:8]}..{series[hi].sha[:8]}, which rose when "
                         "measured again beyond the steps found in it")
    if confirmed:
        apply_confirmation(change, confirmations[key(j)])
    else:
        change.pending = [(series[i - 1], series[i]) for i in waiting[:NEIGHBOURS]]
    return change


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


def settle(change: Change, confirmations: dict[str, dict]) -> None:
    """A measured step takes the verdict of its re-measured pair. Not confirmed, it is not called noise
    before it was looked for around its pair (`searched`: its span, then the span's pairs, `pending` until
    measured), and if a pair near it is confirmed the step is that pair's."""
    if not change.metric.measured or change.pair not in confirmations:
        return  # a new step's own pair is pending from the start (`measured_changes`)
    change.pending = []
    apply_confirmation(change, confirmations[change.pair])
    if change.status != "not_confirmed":
        return
    near = confirmed_near(change, confirmations) if change.screened_rise else []
    if near:
        change.moved_from, (change.good, change.bad) = change.pair, near[0]
        change.status, change.confirmation = "not_confirmed", None
        apply_confirmation(change, confirmations[change.pair])
        return
    own = confirmations[change.pair].get("metrics", {}).get(change.metric.name)
    change.pending = searched(change, own, confirmations)
    if change.pending:
        change.status = "candidate"


def confirmed_near(change: Change, confirmations: dict[str, dict]) -> list[tuple[Point, Point]]:
    """The pairs near a step not confirmed at its own (its `reach`, else its `neighbours`) already measured
    again with its metric confirmed there, nearest first: whichever step asked for their re-measurement, the
    step is there (two steps of one metric side by side in the corpus had the second's pair confirmed, and
    nothing to report it by). Only for a step a rise chose (`Change.screened_rise`): a fall moved onto a
    rise confirmed nearby would stand there not confirmed, in the way of the rise's own change."""
    near = [(abs(offset), good, bad) for offset, good, bad, _ in change.reach] or \
        [(0, good, bad) for good, bad in change.neighbours]
    out = []
    for _, good, bad in sorted(near, key=lambda t: t[0]):
        key = pair_key(change.model, change.variant, good.sha, bad.sha)
        judged = confirmations.get(key, {}).get("metrics", {}).get(change.metric.name)
        if judged and judged["verdict"] == "confirmed" and key not in change.quiet:
            out.append((good, bad))
    return out


def apply_confirmation(change: Change, pair: dict | None) -> None:
    """A candidate (or a step too early to tell) whose pair was re-measured takes that verdict for its
    metric; "too_few" (the rounds could not reach alpha) leaves it where it was, with the evidence."""
    if change.status not in ("candidate", "too_early", "not_confirmed") or not pair:
        return
    change.remeasured = True
    judged = pair.get("metrics", {}).get(change.metric.name)
    if judged is None:  # no fresh samples: the stage was read back from the stage cache, or failed
        return
    change.confirmation = {**judged, "rounds": pair.get("rounds"), "measured": pair.get("measured")}
    if judged["verdict"] == "confirmed" and not change.screened_rise:
        judged = {**judged, "verdict": "not_confirmed"}
        change.confirmation.update(verdict="not_confirmed", contradicts=(
            f"the records showed no rise here; measured again it rose {judged['ratio']:.2f}x: a rise no "
            "screen chose (the pair was re-measured for another metric), not reported"))
    if judged["verdict"] != "too_few":
        change.status = judged["verdict"]
    cpu = cpu_metric(change.metric)
    if cpu is not None and cpu.name in pair.get("metrics", {}):
        change.cpu_ratio = pair["metrics"][cpu.name]["ratio"]
