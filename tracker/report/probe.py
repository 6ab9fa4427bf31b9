"""Where a probe lies between two ends, and which clock a timing verdict may rest on: pure functions.

`bisect` measures a probe interleaved with both ends (rounds of good, probe, bad), so whatever load the
machine was under fell on the three alike, and asks `judge_probe` which end the probe is like. A probe is
"good" or "bad" only when it is like that end and unlike the other; like neither end (a value in between,
or beyond either end) or like both (too few samples to tell) is "neither": measure again, never "bad".

A neighbour on a shared machine stretches the wall time of a CPU-bound prover and leaves its CPU time
almost where it was (one proof here: wall samples spread 67 %, CPU samples 5.6 %). `cpu_decides` says when
a wall-time judgement must give way to the CPU-time one of the same samples, and why, so the output can
say so.
"""
from __future__ import annotations

import math
import statistics
from typing import Callable, Sequence

import numpy as np

from tracker.metrics import SHARED_LOAD, Metric, cpu_metric, samples
from tracker.records import ModelResult
from tracker.report.stats import mann_whitney, samples_needed, smallest_p

GOOD, BAD, NEITHER = "good", "bad", "neither"
# A stage is CPU-bound when, in every revision, its least-disturbed sample spent at least this share of its
# wall time on CPU. The one threshold of the tracker: bisect's probes (`cpu_decides`), the records' verdicts
# and the confirmation's (tracker.report.verdict.disagreement) all ask it through `cpu_bound`. Why so low: on
# a shared machine a CPU-bound prover waits for a core most of its wall time. The synthetic CPU-bound prover's
# best of nine got 0.31 here at a load average of 16 on 2 cores, and the children the noise model was fitted to
# (bench/noise_model.json) 0.29 at the median with no neighbour of ours; a threshold of 0.7 (the verdicts'
# until it was reconciled with this one) held that prover to be waiting on this machine, so its wall
# samples, stretched by a neighbour, were never set aside. A stage that sleeps or waits on I/O gets less,
# and a revision that started to wait (its share fell below this) is no longer CPU-bound: its wall time stands.
CPU_BOUND = 0.25
SPREAD_FACTOR = 2.0   # wall samples spread this many times CPU's: the wall clock measured the machine


def _log_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """log(median(b) / median(a)); 0 where a median is not positive (nothing to compare)."""
    ma, mb = statistics.median(a), statistics.median(b)
    return math.log(mb / ma) if ma > 0 and mb > 0 else 0.0


def differs(a: Sequence[float], b: Sequence[float], min_effect: float, alpha: float) -> bool:
    """`b` is apart from `a`: its median by at least the minimum effect, and a two-sided Mann-Whitney test
    below alpha."""
    return abs(_log_ratio(a, b)) >= math.log1p(min_effect) and mann_whitney(a, b) < alpha


def judge_probe(good: Sequence[float], probe: Sequence[float], bad: Sequence[float], min_effect: float,
                alpha: float) -> str:
    """"good" or "bad" when the probe's samples are like that end's and unlike the other's (and lie on its
    side); "neither" otherwise, including when the ends themselves cannot be told apart."""
    if not (good and probe and bad) or not differs(good, bad, min_effect, alpha):
        return NEITHER
    off_good, off_bad = differs(good, probe, min_effect, alpha), differs(bad, probe, min_effect, alpha)
    towards_bad = _log_ratio(good, probe) * _log_ratio(good, bad) > 0  # moved from good the way bad did
    towards_good = _log_ratio(bad, probe) * _log_ratio(bad, good) > 0
    if off_good and not off_bad and towards_bad:
        return BAD
    if off_bad and not off_good and towards_good:
        return GOOD
    return NEITHER


def spread(samples: Sequence[float]) -> float:
    """(max - min) / median: how far one revision's samples lie apart, as a fraction of its level."""
    mid = statistics.median(samples)
    return (max(samples) - min(samples)) / mid if mid > 0 else 0.0


def cpu_bound(wall: Sequence[Sequence[float]], cpu: Sequence[Sequence[float]]) -> bool:
    """Every revision's least-disturbed sample (the most CPU per wall second) spent at least CPU_BOUND of
    its wall time on CPU; a stage that waits (sleep, I/O, the network) is not, and its wall time stands."""
    if not wall or len(wall) != len(cpu):
        return False
    for w, c in zip(wall, cpu):
        shares = [ci / wi for wi, ci in zip(w, c) if wi > 0]
        if not shares or max(shares) < CPU_BOUND:
            return False
    return True


def cpu_decides(wall: Sequence[Sequence[float]], cpu: Sequence[Sequence[float]], wall_says: str, cpu_says: str,
                wall_effect: float) -> str:
    """Why the CPU-time verdict replaces the wall-time one for the same revisions ("" when wall time
    stands): only for a CPU-bound stage, and only when the two disagree or the wall samples spread far
    above the CPU samples (more than SPREAD_FACTOR times, and more than the wall minimum effect)."""
    if not cpu or not all(cpu) or not cpu_bound(wall, cpu):
        return ""
    wall_spread, cpu_spread = max(map(spread, wall)), max(map(spread, cpu))
    if wall_says != cpu_says:
        return (f"wall time says {wall_says}, CPU time {cpu_says} (wall samples spread {wall_spread:.0%}, "
                f"CPU {cpu_spread:.0%}): rests on CPU time, a CPU-bound stage")
    if wall_spread > max(SPREAD_FACTOR * cpu_spread, wall_effect):
        return (f"wall samples spread {wall_spread:.0%}, CPU {cpu_spread:.0%}: rests on CPU time, "
                f"a CPU-bound stage")
    return ""


def too_few_samples(n_before: int, n_after: int, rounds: int, alpha: float, alternative: str = "two-sided") -> str:
    """What to say when no difference, however large, could reach p < alpha with these sample counts ("" when
    one could), with the samples a side and the rounds (at this many samples a round) that would."""
    if n_before and n_after and smallest_p(n_before, n_after, alternative) < alpha:
        return ""
    needed = samples_needed(alpha, alternative)
    per_round = max(1.0, min(n_before, n_after) / rounds) if rounds else 1.0
    return (f"too few samples (needs n >= {needed} for p < {alpha:g}; "
            f"run --rounds {max(rounds + 1, math.ceil(needed / per_round))})")


Verdict = Callable[[list[list[float]], float], str]  # the samples of each revision, the minimum effect -> a word


def _pooled(metric: Metric, recs: Sequence[ModelResult]) -> list[float]:
    return [x for r in recs for x in samples(metric, r)]


def in_rounds(metric: Metric, groups: Sequence[Sequence[ModelResult]]) -> list[list[float]] | None:
    """The samples of each group, each run's taken relative to the load of its round: divided by the
    geometric mean of the first and the last group's run medians in that round (bisect's two ends). The
    runs of one round share the machine's load of that moment (wall time above all), so a probe is placed
    on how it stands between the ends measured beside it, not on a load that moved between rounds (in the
    corpus, 30 bisections of wall-time steps of 1.3x and more in 684 stopped undecided or wrong this way,
    36 on the samples as measured). None where the groups do not hold one run in every round (a run
    failed), or the metric's runs share no load (peak memory)."""
    if metric.effect not in SHARED_LOAD or len({len(g) for g in groups}) != 1:
        return None
    runs = [[samples(metric, r) for r in g] for g in groups]
    if not all(v for g in runs for v in g):
        return None
    logs = np.log(np.maximum([[statistics.median(v) for v in g] for g in runs], 1e-300))
    load = np.exp((logs[0] + logs[-1]) / 2)
    return [[x / load[i] for i, v in enumerate(g) for x in v] for g in runs]


def weigh_clocks(metric: Metric, groups: Sequence[Sequence[ModelResult]], verdict: Verdict,
                 effect: Callable[[Metric], float], values=_pooled, rounds: bool = False) -> tuple[str, str]:
    """`verdict` on the metric's values of each group of records (`values`: every sample, or one a run;
    with `rounds`, one a run relative to its round's load where `in_rounds` can), and "" ; for the wall
    time of a CPU-bound stage whose clocks disagree, `verdict` on its CPU time instead, and why (for the
    output to say)."""
    def judged(m: Metric, raw: list[list[float]]) -> str:
        return verdict((rounds and in_rounds(m, groups)) or raw, effect(m))

    wall = [values(metric, g) for g in groups]
    says = judged(metric, wall)
    companion = cpu_metric(metric)
    cpu = [values(companion, g) for g in groups] if companion else []
    if not cpu or not all(cpu):
        return says, ""
    cpu_says = judged(companion, cpu)
    why = cpu_decides(wall, cpu, says, cpu_says, effect(metric))
    return (cpu_says, why) if why else (says, "")
