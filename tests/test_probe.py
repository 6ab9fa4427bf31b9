"""Where a probe lies between two ends, and when CPU time decides over wall time: the pure functions."""
from __future__ import annotations

import numpy as np

from tracker.report.probe import BAD, GOOD, NEITHER, cpu_bound, cpu_decides, judge_probe

ALPHA, EFFECT = 0.01, 0.10


def level(value: float, n: int = 9, seed: int = 0, noise: float = 0.02) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(value * (1 + rng.normal(0, noise, n)))


def test_a_probe_like_one_end_and_unlike_the_other_takes_its_side():
    good, bad = level(1.0, seed=1), level(1.35, seed=2)
    assert judge_probe(good, level(1.0, seed=3), bad, EFFECT, ALPHA) == GOOD
    assert judge_probe(good, level(1.35, seed=4), bad, EFFECT, ALPHA) == BAD
    # a step down is bisected the same way round
    assert judge_probe(bad, level(1.0, seed=5), good, EFFECT, ALPHA) == BAD


def test_a_probe_like_neither_or_both_is_measured_again_never_bad():
    good, bad = level(1.0, seed=1), level(1.35, seed=2)
    assert judge_probe(good, level(1.17, seed=6), bad, EFFECT, ALPHA) == NEITHER   # half-way
    assert judge_probe(good, level(0.8, seed=7), bad, EFFECT, ALPHA) == NEITHER    # faster than good
    assert judge_probe(good, level(1.9, seed=8), bad, EFFECT, ALPHA) == NEITHER    # beyond bad
    assert judge_probe(good, level(1.0, n=2, seed=9), bad, EFFECT, ALPHA) == NEITHER  # 2 samples: like both
    assert judge_probe(good, level(1.0, seed=3), level(1.02, seed=2), EFFECT, ALPHA) == NEITHER  # ends alike
    assert judge_probe([], level(1.0), bad, EFFECT, ALPHA) == NEITHER


def test_a_stretched_wall_clock_gives_way_to_cpu_time_for_a_cpu_bound_stage_only():
    cpu = [level(0.3, seed=s, noise=0.01) for s in (1, 2, 3)]
    wall = [[c * f for c, f in zip(cpu[0], [1.05] * 9)], [c * f for c, f in zip(cpu[1], [1.05, 1.9, 1.1] * 3)],
            [c * 1.05 for c in cpu[2]]]
    assert cpu_bound(wall, cpu)
    why = cpu_decides(wall, cpu, BAD, GOOD, 0.15)
    assert "wall time says bad, CPU time good" in why and "CPU-bound" in why
    assert "spread" in cpu_decides(wall, cpu, GOOD, GOOD, 0.15)
    quiet = [[c * 1.05 for c in xs] for xs in cpu]
    assert cpu_decides(quiet, cpu, GOOD, GOOD, 0.15) == ""
    # a stage that mostly waits: its wall time is what changed, and it stands
    waiting = [[c * 5 for c in xs] for xs in cpu]
    assert not cpu_bound(waiting, cpu) and cpu_decides(waiting, cpu, BAD, GOOD, 0.15) == ""


def test_a_probe_is_placed_on_its_runs_relative_to_the_load_of_their_round():
    """A load that moves between rounds (a neighbour comes and goes) and falls on the three runs of a round
    alike: across rounds the ends overlap and no side can be told; taken over its round's load, the probe
    stands where the bad end does."""
    from tracker.metrics import BY_NAME
    from tracker.records import ModelResult, StageResult
    from tracker.report.probe import in_rounds

    loads = [1.0, 2.0, 0.7, 1.6, 1.1, 2.3]

    def runs(sha: str, level: float) -> list[ModelResult]:
        out = []
        for i, load in enumerate(loads):
            r = ModelResult("synth", sha, "linear", "default")
            wall = [level * load * (1 + 0.01 * j + 0.002 * i) for j in range(3)]
            r.add(StageResult("prove", samples_s=wall, cpu_s=[w / 4 for w in wall], peak_rss_bytes=2 ** 20))
            out.append(r)
        return out

    groups = [runs("g", 1.0), runs("p", 1.25), runs("b", 1.25)]
    wall = BY_NAME["prove_time"]
    pooled = [[x for r in g for x in r.stages["prove"].samples_s] for g in groups]
    assert judge_probe(*pooled, 0.15, ALPHA) == NEITHER           # the load between rounds hides the step
    relative = in_rounds(wall, groups)
    assert [len(v) for v in relative] == [18, 18, 18]             # every sample, each run's over its round's load
    assert judge_probe(*relative, 0.15, ALPHA) == BAD
    assert in_rounds(BY_NAME["prove_peak_memory"], groups) is None   # memory's runs share no load
    assert in_rounds(wall, [groups[0][:5], groups[1], groups[2]]) is None  # a round without all three


def test_interleaved_rounds_alternate_their_order_and_a_second_look_counts_on_from_the_first(tmp_path):
    """A second look of 6 rounds after 6 says "round 7/12", not "7/6"; each round reverses the order."""
    from types import SimpleNamespace

    from tracker.records import ModelResult, Status
    from tracker.run.remeasure import interleaved

    ran, lines = [], []

    def measure(sha, model, variant, into):
        ran.append((into.name, sha))
        return ModelResult("fw", sha, model, variant, status=Status.OK)

    m = SimpleNamespace(fw=SimpleNamespace(name="fw"), measure=measure, say=lines.append,
                        revision=lambda sha: SimpleNamespace(label=sha.upper()))
    got = interleaved(m, ["a", "b"], "linear", "default", 6, tmp_path, first=7)
    assert [len(v) for v in got.values()] == [6, 6]
    assert ran[:4] == [("round-7", "a"), ("round-7", "b"), ("round-8", "b"), ("round-8", "a")]
    assert lines[0] == "  fw linear [default] round 7/12 A: ok" and lines[-1].startswith("  fw linear [default] round 12/12")


def test_bisect_and_the_verdicts_hold_a_stage_cpu_bound_by_one_threshold():
    """One CPU_BOUND for bisect's probes and for the verdicts of the records and of a confirmation: a
    CPU-bound prover on this shared machine spends about 0.3 of its wall time on CPU (it waits for a core),
    and its wall samples stretched by a neighbour are set aside by both; a stage that mostly waits keeps its
    wall time in both, on either side of the threshold alike."""
    from tracker.report.probe import CPU_BOUND
    from tracker.report.verdict import disagreement

    cpu = [0.30, 0.31, 0.29]
    for share, bound in ((CPU_BOUND * 1.2, True), (CPU_BOUND * 0.8, False), (0.3, True), (0.9, True), (0.1, False)):
        good = [c / share for c in cpu]
        stretched = [good[0], good[1] * 1.9, good[2] * 1.4]   # a neighbour, CPU time unmoved
        assert cpu_bound([good, good], [cpu, cpu]) == bound, share
        assert (disagreement(good, stretched, cpu, cpu) is not None) == bound, share
        assert (cpu_decides([good, stretched], [cpu, cpu], BAD, GOOD, 0.15) != "") == bound, share
    # a revision that started to wait (its share fell below the threshold) is not CPU-bound: its wall time stands
    good, waits = [c / 0.3 for c in cpu], [c / 0.3 * 2.5 for c in cpu]
    assert disagreement(good, waits, cpu, cpu) is None and not cpu_bound([good, waits], [cpu, cpu])
