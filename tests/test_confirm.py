"""Confirmation's judgement of a re-measured pair: a timing judged round by round, a rise counted only where a
rise chose the pair, and the wall look that follows a CPU step to the pair it settled at. Pure functions on
records built here (what a re-measurement leaves); the commands end to end are in tests/test_verdicts.py."""
from __future__ import annotations

import math

import pytest

from tracker import records
from tracker.metrics import BY_NAME
from tracker.report.confirm import decide, judge
from tracker.report.stats import compare, paired_compare, signed_rank, smallest_p_paired
from tracker.report.change import Change, Point, Settings, pair_key
from tracker.report.search import apply_confirmation
from tracker.report.verdict import changes_of


def test_signed_rank_against_hand_worked_values():
    # 9 rounds all the same way: 1 sign pattern of 2^9 is as extreme
    assert signed_rank(range(1, 10), "greater") == pytest.approx(1 / 512) == smallest_p_paired(9, "greater")
    assert signed_rank(range(1, 10)) == pytest.approx(2 / 512)
    # ranks 1..6, rank 2 negative: W = 19 of 21; W >= 19 in 3 of 64 patterns (nothing, {1} or {2} negative)
    assert signed_rank([1, -2, 3, 4, 5, 6], "greater") == pytest.approx(3 / 64)
    assert signed_rank([1, -2, 3, 4, 5, 6], "less") == pytest.approx(1.0 - 1 / 64 - 1 / 64, abs=0.02)
    assert signed_rank([0, 0, 0]) == 1.0  # no round moved
    # ties: the normal approximation with the tie correction, still clearly one way
    assert signed_rank([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], "greater") < 0.005
    # each round's own ratio, whatever the round's level: their median is the change
    c = paired_compare([1.0, 2.0, 0.5, 1.5, 1.0], [1.3, 2.5, 0.675, 1.92, 1.32], "greater")
    assert c.ratio == pytest.approx(1.3) and c.p_value == pytest.approx(1 / 32)


def _rec(sha: str, wall: float, cpu: float, memory: int = 250_000_000) -> records.ModelResult:
    r = records.ModelResult("synth", sha, "linear", "default")
    r.add(records.StageResult("prove", samples_s=[wall, wall * 1.01, wall * 0.99], cpu_s=[cpu, cpu * 1.01, cpu * 0.99],
                              peak_rss_bytes=memory))
    return r


def test_a_timing_is_judged_round_by_round_where_the_load_moved_between_rounds():
    """The machine's load doubled and halved from round to round (a neighbour coming and going), the same
    for both runs of a round: as two sets of runs the 1.3x step drowns in it; round by round it stands."""
    load = [1.0, 1.8, 0.7, 1.4, 2.0, 0.8, 1.2, 1.6, 0.6, 1.1, 1.9, 0.9]
    # a stage that waits (0.1 s of CPU in 1 s and more of wall time: not CPU-bound), so its wall time stands
    good = [_rec("a", 1.0 * x, 0.1, 250_000_000 + 1000 * i) for i, x in enumerate(load)]
    bad = [_rec("b", 1.3 * x * (1 + i / 1000), 0.1, 250_000_000 - 1000 * i) for i, x in enumerate(load)]
    apart, rounds = judge(good, bad, Settings()), judge(good, bad, Settings(), paired=True)
    assert apart["prove_time"]["verdict"] == "not_confirmed" and apart["prove_time"]["test"] == "Mann-Whitney"
    assert rounds["prove_time"]["verdict"] == "confirmed"
    assert rounds["prove_time"]["test"] == "signed-rank, paired by round"
    assert rounds["prove_time"]["ratio"] == pytest.approx(1.31, abs=0.01)
    # peak memory shares no load between runs: two sets of runs however the rounds were measured
    assert rounds["prove_peak_memory"]["test"] == "Mann-Whitney"
    assert rounds["prove_peak_memory"]["verdict"] == "not_confirmed"


def test_too_few_rounds_for_the_paired_test_fall_back_to_the_runs_with_the_rounds_ratio():
    """Six rounds cannot reach p < 0.005 / 3 as signed ranks (1/64), but can as runs (1/924)."""
    a, b = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03], [1.5, 1.52, 1.49, 1.51, 1.505, 1.53]
    verdict = decide(a, b, 0.15, 0.005 / 3, paired=True)
    assert verdict["verdict"] == "confirmed" and verdict["test"] == "Mann-Whitney"
    assert verdict["p_value"] == pytest.approx(1 / 924)
    assert verdict["ratio"] == pytest.approx(paired_compare(a, b).ratio)


def _flat(p: float = 0.001) -> dict:
    return {"before": 1.0, "after": 1.16, "ratio": 1.16, "interval": [1.1, 1.2], "p_value": p, "samples": [12, 12]}


def test_a_rise_is_counted_only_where_a_rise_chose_the_pair():
    """Seen in the corpus: a memory step the records showed falling (0.86x) was re-measured for the timings
    of the same pair, and the memory rose 1.16x at p < alpha by chance: reported, at a commit where nothing
    rose. A rise no screen chose is not evidence of one."""
    memory = BY_NAME["prove_peak_memory"]
    a, b = Point("a" * 40, (250e6,)), Point("b" * 40, (215e6,))
    fell = Change("synth", "linear", "default", memory, a, b, compare([250e6] * 3, [215e6] * 3), "candidate")
    apply_confirmation(fell, {"rounds": 12, "metrics": {memory.name: {**_flat(), "verdict": "confirmed"}}})
    assert fell.status == "not_confirmed" and not fell.worse
    assert "a rise no screen chose" in fell.confirmation["contradicts"]
    rose = Change("synth", "linear", "default", memory, a, b, compare([215e6] * 3, [250e6] * 3), "candidate")
    apply_confirmation(rose, {"rounds": 12, "metrics": {memory.name: {**_flat(), "verdict": "confirmed"}}})
    assert rose.status == "confirmed" and rose.worse
    # a wall-time step whose one run a side fell, where the stage's CPU time rose: the CPU rise chose it
    wall = BY_NAME["prove_time"]
    beside = Change("synth", "linear", "default", wall, a, b, compare([2.0] * 3, [1.7] * 3), "too_early",
                    cpu_stepped=True)
    apply_confirmation(beside, {"rounds": 18, "metrics": {wall.name: {**_flat(), "verdict": "confirmed"}}})
    assert beside.status == "confirmed" and beside.worse


def test_the_wall_look_follows_a_cpu_step_to_the_neighbour_it_settled_at():
    """CPU time placed at 5 (one revision half way, 4 -> 5 moved 8 %), not confirmed there, confirmed at the
    neighbouring 4 -> 5: the wall time, flat in the records, is looked at 4 -> 5 too, where the pair was
    re-measured, and takes its own verdict there."""
    cpu = [0.30] * 5 + [0.325] + [0.45] * 6
    recs = [_rec(f"{i:040x}", 1.0 + (0.01 if i % 2 else 0.0), c) for i, c in enumerate(cpu)]
    shas = [r.revision for r in recs]
    judged = {**_flat(1e-5), "ratio": 1.4, "after": 1.4}
    confirmations = {
        pair_key("linear", "default", shas[5], shas[6]): {"rounds": 6, "metrics": {
            "prove_cpu_time": {**_flat(0.6), "ratio": 1.0, "verdict": "not_confirmed"},
            "prove_time": {**_flat(0.6), "ratio": 1.0, "verdict": "not_confirmed"}}},
        pair_key("linear", "default", shas[4], shas[5]): {"rounds": 6, "metrics": {
            "prove_cpu_time": {**judged, "verdict": "confirmed"}, "prove_time": {**judged, "verdict": "confirmed"}}},
    }
    before = [(c.metric.name, c.good.sha, c.bad.sha) for c in changes_of("synth", recs, Settings())]
    assert ("prove_cpu_time", shas[5], shas[6]) in before  # the records alone place it one commit late
    settled = changes_of("synth", recs, Settings(), confirmations)
    found = {(c.metric.name, c.good.sha, c.bad.sha): c for c in settled if c.status == "confirmed"}
    assert found[("prove_cpu_time", shas[4], shas[5])].moved_from
    wall = found[("prove_time", shas[4], shas[5])]
    assert wall.from_cpu and wall.worse and math.isclose(wall.confirmation["ratio"], 1.4)


def test_a_nightlys_many_pairs_and_a_users_one_question_have_their_own_alpha(tmp_path):
    import json

    from tracker.config import ConfigError
    from tracker.report.change import load_settings

    assert (Settings().confirm_alpha, Settings().asked_alpha) == (0.003, 0.01)
    conf = tmp_path / "asv.conf.json"
    conf.write_text(json.dumps({"version": 1, "tracker_verdicts": {"asked_alpha": 0.02, "confirm_alpha": 0.001}}))
    assert (load_settings(conf).asked_alpha, load_settings(conf).confirm_alpha) == (0.02, 0.001)
    conf.write_text(json.dumps({"version": 1, "tracker_verdicts": {"asked_alpha": 2}}))
    with pytest.raises(ConfigError, match="tracker_verdicts.asked_alpha"):
        load_settings(conf)


def test_a_pair_is_settled_when_the_metrics_that_asked_for_it_are_not_when_a_wandering_one_is():
    """The synthetic prover's verify stage is a process start-up: it wanders 1.1-1.2x with the load and was
    never settled, so a confirmed 2x prove step took three looks. The pair waits for what asked for it (and
    that metric's other clock), and for every metric where nothing is known of who asked."""
    from tracker.report.confirm import pairs_to_confirm, settled

    verdicts = {"prove_time": {**_flat(), "ratio": 2.0, "verdict": "confirmed"},
                "prove_cpu_time": {**_flat(), "ratio": 2.0, "verdict": "confirmed"},
                "verify_time": {**_flat(0.02), "ratio": 1.18, "verdict": "not_confirmed"}}
    settings = Settings()
    assert not settled(verdicts, settings)
    assert settled(verdicts, settings, frozenset({"prove_cpu_time"}))
    assert not settled(verdicts, settings, frozenset({"prove_cpu_time", "verify_cpu_time"}))  # its wall clock
    a, b = Point("a" * 40, (1.0, 1.01, 0.99)), Point("b" * 40, (2.0, 2.01, 1.99))
    steps = [Change("synth", "linear", "default", BY_NAME[name], a, b, compare(a.values, b.values), "candidate",
                    pending=[(a, b)]) for name in ("prove_cpu_time", "prove_time")]
    [pair] = pairs_to_confirm(steps, 5)
    assert pair.asked == frozenset({"prove_cpu_time", "prove_time"}) and settled(verdicts, settings, pair.asked)


def test_a_cpu_bound_stage_that_starts_to_wait_is_confirmed_round_by_round_and_a_neighbour_is_not():
    """A CPU-bound stage (half its wall time on CPU, 0.31 after) whose wall time rose 1.6x in every
    interleaved round while its CPU time stayed: no neighbour does that to both runs of every round, so the
    stage started to wait and the rise is its own. A neighbour that stretched the later revision's runs in
    4 rounds of 10 leaves the other rounds flat: not confirmed, round by round; as two sets of runs (a round
    lost a run) the wall samples spread far above the CPU's are set aside for CPU time."""
    wobble = [1.0, 1.02, 0.99, 1.01, 0.98, 1.03, 1.0, 0.97, 1.02, 1.0]
    good = [_rec("a", 1.0 * x, 0.5, 250_000_000 + 1000 * i) for i, x in enumerate(wobble)]
    waits = [_rec("b", 1.6 * x, 0.5 * (1 + i / 1000), 250_000_000 - 1000 * i) for i, x in enumerate(wobble)]
    verdict = judge(good, waits, Settings(), paired=True)["prove_time"]
    assert verdict["test"] == "signed-rank, paired by round" and verdict["verdict"] == "confirmed", verdict
    assert "disagreement" not in verdict
    # the same pair as two sets of runs: a CPU-bound stage's wall ratio the CPU time does not show rests on CPU
    assert judge(good, waits, Settings())["prove_time"]["verdict"] == "not_confirmed"
    stretched = [_rec("b", x * (2.2 if i % 3 == 0 else 1.0) * 1.001, 0.5, 250_000_000) for i, x in enumerate(wobble)]
    assert judge(good, stretched, Settings(), paired=True)["prove_time"]["verdict"] == "not_confirmed"
    verdict = judge(good, stretched, Settings())["prove_time"]
    assert verdict["verdict"] == "not_confirmed" and "judged on CPU time" in verdict["disagreement"]


def test_a_cpu_bound_stages_wall_time_that_rose_with_its_confirmed_cpu_time_rests_on_it():
    """A CPU-bound prover (a third of its wall time on CPU) did 1.3x the work: its CPU time rose 1.3x in every
    round, confirmed; its wall time rose too, but under a load that moved the wall time of each round's two
    runs apart (three rounds the later run faster), the rounds reach only p = 0.003, short of the
    look's alpha. The wall verdict rests on the CPU time and says so. Where the wall time fell instead (the
    prover took more threads), it is not confirmed."""
    load = [1.0, 1.35, 0.7, 1.2, 0.72, 1.1, 1.4, 0.74, 1.25, 1.05, 1.3, 0.85]
    good = [_rec("a", 3.0, 1.0 * (1 + i / 1000), 250_000_000) for i in range(len(load))]
    bad = [_rec("b", 3.0 * 1.3 * x, 1.3 * (1 - i / 1000), 250_000_000) for i, x in enumerate(load)]
    verdicts = judge(good, bad, Settings(), paired=True)
    assert verdicts["prove_cpu_time"]["verdict"] == "confirmed"
    wall = verdicts["prove_time"]
    assert wall["verdict"] == "confirmed" and 0.001 < wall["p_value"] < 0.05, wall
    assert wall["disagreement"] == ("wall time 1.40x (p=0.0034) rose with the CPU time, confirmed 1.29x: a "
                                   "CPU-bound stage, judged on its CPU time")
    # the same rounds with the wall time falling as the CPU time rose: not carried
    threads = [_rec("b", 3.0 * 0.7 * x, 1.3 * (1 - i / 1000), 250_000_000) for i, x in enumerate(load)]
    assert judge(good, threads, Settings(), paired=True)["prove_time"]["verdict"] == "not_confirmed"
    # a stage that waits (a tenth of its wall time on CPU) keeps its own wall verdict
    waiting = [_rec("a", 10.0, 1.0 * (1 + i / 1000), 250_000_000) for i in range(len(load))]
    slower = [_rec("b", 10.0 * 1.3 * x, 1.3 * (1 - i / 1000), 250_000_000) for i, x in enumerate(load)]
    assert judge(waiting, slower, Settings(), paired=True)["prove_time"]["verdict"] == "not_confirmed"
