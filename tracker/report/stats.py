"""The statistics a verdict rests on, written out so a framework author can check them: numpy only.

- `mann_whitney`: is one set of samples shifted against another? A rank test, so one wild sample (a
  neighbour took the CPU for a second) moves it by one rank, not by its size. Exact distribution for small
  samples without ties, normal approximation with the tie correction otherwise.
- `ratio_interval`: how large the change is, as the ratio of medians with a bootstrap interval
  (percentile method, fixed seed so that the same samples always give the same interval).
- `signed_rank` and `paired_compare`: two revisions measured side by side in rounds (A B, B A, ...), each
  round's pair sharing the load of its moment: the ratio within each round is the evidence, ranked by
  size (Wilcoxon's signed-rank test), and the median of those ratios is the change.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from math import comb, erf, sqrt
from typing import Sequence

import numpy as np

EXACT_MAX = 30          # exact U distribution up to this many samples a side (and no ties)
BOOTSTRAP_DRAWS = 2000
SEED = 20261128


@dataclass(frozen=True)
class Comparison:
    """Samples `before` against `after`: ratio of medians (after / before), its interval, p-value."""

    before: float
    after: float
    ratio: float
    low: float
    high: float
    p_value: float
    n_before: int
    n_after: int

    def to_json(self) -> dict:
        return {"before": self.before, "after": self.after, "ratio": self.ratio, "interval": [self.low, self.high],
                "p_value": self.p_value, "samples": [self.n_before, self.n_after]}


@lru_cache(maxsize=None)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many orderings of m x's and n y's give each U = 0..m*n (U counts pairs with x > y)."""
    if m == 0 or n == 0:
        return (1,)
    with_x_last = _u_counts(m - 1, n)      # the largest value is an x: it beats all n y's
    with_y_last = _u_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, c in enumerate(with_x_last):
        out[u + n] += c
    for u, c in enumerate(with_y_last):
        out[u] += c
    return tuple(out)


def _u_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """U of `b` over `a`: pairs (x in b, y in a) with x > y, ties counting one half."""
    diff = b[:, None] - a[None, :]
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum())


def mann_whitney(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """p-value that `b` is shifted against `a` ("greater": b larger; "less": b smaller; or either way)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    m, n = len(b), len(a)
    if m == 0 or n == 0:
        return 1.0
    u = _u_statistic(a, b)
    pooled = np.concatenate([a, b])
    ties = len(np.unique(pooled)) < len(pooled)
    if not ties and max(m, n) <= EXACT_MAX:
        counts = np.array(_u_counts(m, n), dtype=float)
        total = counts.sum()
        upper = counts[int(np.ceil(u)):].sum() / total      # P(U >= u)
        lower = counts[:int(np.floor(u)) + 1].sum() / total  # P(U <= u)
    else:
        upper, lower = _normal_tails(u, m, n, pooled)
    if alternative == "greater":
        return float(min(1.0, upper))
    if alternative == "less":
        return float(min(1.0, lower))
    return float(min(1.0, 2 * min(upper, lower)))


def _normal_tails(u: float, m: int, n: int, pooled: np.ndarray) -> tuple[float, float]:
    """P(U >= u), P(U <= u) by the normal approximation, with tie correction and continuity correction."""
    _, tie_sizes = np.unique(pooled, return_counts=True)
    total = m + n
    variance = m * n / 12 * ((total + 1) - ((tie_sizes ** 3 - tie_sizes).sum()) / (total * (total - 1)))
    if variance <= 0:
        return 1.0, 1.0
    mean, sd = m * n / 2, sqrt(variance)

    def above(z: float) -> float:
        return 0.5 * (1 - erf(z / sqrt(2)))

    return above((u - mean - 0.5) / sd), above((mean - u - 0.5) / sd)


def ratio_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval of median(b) / median(a): resample each side, keep the central `level`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(SEED)
    ma = np.median(rng.choice(a, size=(BOOTSTRAP_DRAWS, len(a))), axis=1)
    mb = np.median(rng.choice(b, size=(BOOTSTRAP_DRAWS, len(b))), axis=1)
    ratios = mb / np.where(ma == 0, np.nan, ma)
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def compare(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> Comparison:
    """Everything a verdict states about two sets of samples."""
    before, after = float(np.median(a)), float(np.median(b))
    ratio = after / before if before else float("inf")
    low, high = ratio_interval(a, b)
    return Comparison(before, after, ratio, low, high, mann_whitney(a, b, alternative), len(a), len(b))


def smallest_p(n_before: int, n_after: int, alternative: str = "two-sided") -> float:
    """The smallest p-value a Mann-Whitney test can give with these sample counts (complete separation):
    below it no difference, however large, can be called significant, so the honest verdict is "too few
    samples", not "no change"."""
    if n_before == 0 or n_after == 0:
        return 1.0
    one_sided = 1.0 / comb(n_before + n_after, n_after)
    return min(1.0, one_sided if alternative in ("greater", "less") else 2 * one_sided)


def can_decide(n_before: int, n_after: int, alpha: float, alternative: str = "two-sided") -> bool:
    """Whether samples of these sizes could reach p < alpha at all."""
    return smallest_p(n_before, n_after, alternative) < alpha


def samples_needed(alpha: float, alternative: str = "two-sided", limit: int = 100) -> int:
    """The fewest samples a side (equal sides) with which p < alpha can be reached; `limit` if none."""
    return next((n for n in range(1, limit + 1) if can_decide(n, n, alpha, alternative)), limit)


@lru_cache(maxsize=None)
def _w_counts(n: int) -> tuple[int, ...]:
    """How many of the 2^n sign patterns of ranks 1..n give each sum of positive ranks W = 0..n(n+1)/2."""
    counts = [1]
    for r in range(1, n + 1):
        out = counts + [0] * r
        for w, c in enumerate(counts):
            out[w + r] += c
        counts = out
    return tuple(counts)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of x, ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        same = x == value
        ranks[same] = ranks[same].mean()
    return ranks


def signed_rank(d: Sequence[float], alternative: str = "two-sided") -> float:
    """p-value that the paired differences `d` lie above zero ("greater"), below ("less") or either way
    (Wilcoxon's signed-rank test; zero differences dropped). Exact without ties up to EXACT_MAX pairs,
    else the normal approximation with tie and continuity corrections."""
    d = np.asarray(d, float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 1.0
    size = np.abs(d)
    ranks = _ranks(size)
    w = float(ranks[d > 0].sum())
    if len(np.unique(size)) == n and n <= EXACT_MAX:
        counts = np.array(_w_counts(n), dtype=float)
        upper, lower = counts[int(np.ceil(w)):].sum() / 2 ** n, counts[:int(np.floor(w)) + 1].sum() / 2 ** n
    else:
        _, tie_sizes = np.unique(size, return_counts=True)
        sd = sqrt(n * (n + 1) * (2 * n + 1) / 24 - (tie_sizes ** 3 - tie_sizes).sum() / 48)
        mean = n * (n + 1) / 4
        upper = 0.5 * (1 - erf((w - mean - 0.5) / sd / sqrt(2))) if sd > 0 else 1.0
        lower = 0.5 * (1 - erf((mean - w - 0.5) / sd / sqrt(2))) if sd > 0 else 1.0
    if alternative == "greater":
        return float(min(1.0, upper))
    if alternative == "less":
        return float(min(1.0, lower))
    return float(min(1.0, 2 * min(upper, lower)))


def smallest_p_paired(pairs: int, alternative: str = "two-sided") -> float:
    """The smallest p-value the signed-rank test can give with this many pairs (every one the same way)."""
    if pairs == 0:
        return 1.0
    return min(1.0, 0.5 ** pairs * (1 if alternative in ("greater", "less") else 2))


def paired_compare(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> Comparison:
    """`a[i]` and `b[i]` measured in the same round: the change is the median of the rounds' ratios b/a
    (bootstrap interval over the rounds), the p-value the signed-rank test of their logarithms."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = np.log(b / a)
    rng = np.random.default_rng(SEED)
    medians = np.exp(np.median(rng.choice(d, size=(BOOTSTRAP_DRAWS, len(d))), axis=1))
    low, high = np.percentile(medians, [2.5, 97.5])
    return Comparison(float(np.median(a)), float(np.median(b)), float(np.exp(np.median(d))), float(low),
                      float(high), signed_rank(d, alternative), len(a), len(b))


def with_p(c: Comparison, p_value: float) -> Comparison:
    return replace(c, p_value=p_value)
