"""Where a measured series steps: binary segmentation, each split placed where all of a segment's samples
split best (the energy distance of the log samples), then tested on the revisions either side, one value a
revision. The README's "How a verdict is made", steps 1 to 3, says why each rule is there.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from tracker.report.change import Point
from tracker.report.stats import Comparison, can_decide, compare, mann_whitney

WINDOW_RUNS = 5         # a boundary is tested on at most this many revisions either side, one value each
BUMP_RUNS = (2, 3)       # a segment found flat is searched for a run of this many revisions apart from both sides
PLACE_MAX_SAMPLES = 1500  # beyond this many samples in a segment, a split is placed on one median a revision
NEAR_END = 3            # a boundary with fewer revisions than this between it and an end of the series moved
                        # by the minimum effect is too early to tell (the samples of one run share its load)


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
    big = log_ratio(before, after) >= math.log1p(min_effect)
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


def split_gains(series: list[Point], lo: int, hi: int) -> dict[int, float]:
    """boundary j -> how well it splits the revisions lo..hi-1 in two (energy distance of one value a
    revision, the log of its median), for every j strictly inside."""
    x = np.log(np.maximum([statistics.median(p.values) for p in series[lo:hi]], 1e-300))
    return dict(zip(range(lo + 1, hi), energy_gains(x, np.arange(1, hi - lo))))


def _clearance(outside: list[float], inner: list[float]) -> float:
    """How far (log scale) every inner value lies beyond every outside value, above them all or below them
    all; 0 or less where they overlap."""
    if min(outside + inner) <= 0:
        return 0.0
    return max(math.log(min(inner) / max(outside)), math.log(min(outside) / max(inner)))


def _apart(before: list[float], after: list[float]) -> bool:
    """Every value after the boundary beyond every value before it, one way or the other."""
    return max(before) < min(after) or min(before) > max(after)


def log_ratio(before: list[float], after: list[float]) -> float:
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
