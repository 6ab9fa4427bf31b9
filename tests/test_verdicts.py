"""Verdicts: each metric judged by its kind, timing steps tested on their samples and confirmed by re-measuring.

The statistics are checked against values worked out by hand; the engine on series with known steps; and
the commands end to end on a throwaway repository whose prover does real CPU-bound work, through git,
builds, the measured stages, asv and a webhook served on 127.0.0.1. Where a test needs the machine to be
slow during some commits it either starts real busy processes in their own sessions (a neighbour) or, where
the outcome must not depend on how busy the shared machine already is, makes the prover wait while a file
exists: wall time stretched, CPU time not, which is what a neighbour does to a CPU-bound prover.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.noise_model import Neighbours as Neighbour  # busy processes, as other users' jobs
from tests.synthetic import Step, make_repo
from tests.test_nightly import Tracker
from tests.test_report import hook  # noqa: F401 - a webhook served on 127.0.0.1, as a fixture
from tracker import records
from tracker.config import ConfigError
from tracker.fsutil import read_json
from tracker.report.stats import mann_whitney, ratio_interval
from tracker.report.verdict import Point, Settings, changes_of, load_settings, measured_steps

ROOT = Path(__file__).resolve().parents[1]
WORK = 3_000_000          # about 0.3 s of CPU per proof: the step stands out of start-up and load
STEP_AT, BYTE_AT = 5, 3   # prove does twice the work from commit 5; the proof is one byte longer from 3


# --- the statistics and the engine --------------------------------------------------------------------

def test_mann_whitney_against_hand_worked_values():
    # 3 vs 3, fully apart: 1 ordering of 20 is as extreme, each way
    assert mann_whitney([1, 2, 3], [4, 5, 6], "greater") == pytest.approx(1 / 20)
    assert mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert mann_whitney([4, 5, 6], [1, 2, 3], "greater") == pytest.approx(1.0)
    assert mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], "greater") == pytest.approx(1 / 252)
    # ties: the normal approximation with the tie correction
    assert mann_whitney([1, 1, 2, 2], [3, 3, 4, 4]) == pytest.approx(0.0265, abs=1e-3)
    low, high = ratio_interval([1.0, 1.01, 0.99, 1.02], [2.0, 2.02, 1.98, 2.01])
    assert 1.9 < low < 2.0 < high < 2.1


def _series(levels: list[float], spread: float, seed: int = 1, n: int = 3) -> list[Point]:
    rng = np.random.default_rng(seed)
    return [Point(f"{i:040x}", tuple(level * (1 + rng.normal(0, spread, n)))) for i, level in enumerate(levels)]


def test_steps_are_placed_at_their_commits_and_noise_alone_raises_nothing():
    levels = [1.0] * 8 + [1.3] * 8 + [2.6] * 8 + [1.3] * 8
    assert [k for k, _ in measured_steps(_series(levels, 0.03), 0.10, 0.001)] == [8, 16, 24]
    for seed in range(5):
        assert measured_steps(_series([1.0] * 32, 0.05, seed), 0.10, 0.001) == []
    # a 5 % step is below the minimum effect however clear it is
    assert measured_steps(_series([1.0] * 8 + [1.05] * 8, 0.001), 0.10, 0.001) == []


def test_settings_are_read_from_asv_conf_and_a_wrong_one_is_named(tmp_path):
    conf = tmp_path / "asv.conf.json"
    conf.write_text(json.dumps({"version": 1, "tracker_verdicts": {"rounds": 4, "min_effect": {"cpu_time": 0.2}}}))
    s = load_settings(conf)
    assert s.rounds == 4 and s.min_effect["cpu_time"] == 0.2 and s.min_effect["wall_time"] == 0.15
    conf.write_text(json.dumps({"version": 1, "tracker_verdicts": {"rounds": 0}}))
    with pytest.raises(ConfigError, match="tracker_verdicts.rounds"):
        load_settings(conf)


# --- end to end ---------------------------------------------------------------------------------------

def tracker_for(root: Path, steps: list[Step], name: str) -> tuple[Tracker, list[str]]:
    shas = make_repo(root / f"{name}-repo", steps)
    t = Tracker(root, root / f"{name}-repo", name)
    conf = json.loads("\n".join(x for x in (ROOT / "asv.conf.json").read_text().splitlines()
                                if not x.lstrip().startswith("//")))
    conf["tracker_verdicts"] = {"rounds": 3}
    (t.root / "asv.conf.json").write_text(json.dumps(conf))
    return t, shas


def verdicts(t: Tracker, capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    status = t("regressions", "--json", *args)
    out = capsys.readouterr().out
    return status, json.loads(out[out.index("{\n"):out.rindex("}") + 1])


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    """8 commits: one byte more proof from commit 3, twice the prove work from commit 5; run once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZKML_TRACKER_MACHINE", "test-machine")
        t, shas = tracker_for(tmp_path_factory.mktemp("v"), [
            Step(delay=0.0, work=WORK * (2 if i >= STEP_AT else 1), proof_bytes=1000 + (i >= BYTE_AT))
            for i in range(8)], "stepped")
        assert t("run", "-m", "linear", "--no-publish") == 0
        yield t, shas


@pytest.mark.slow
def test_one_byte_is_reported_at_its_commit_and_a_real_step_is_confirmed_and_sent(stepped, capsys, hook,
                                                                                  monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    t, shas = stepped
    status, before = verdicts(t, capsys)
    size = [r for r in before["regressions"] if r["metric"] == "proof_size"]
    assert [(r["first_bad"], r["last_good"], r["before"], r["after"], r["verdict"]) for r in size] == \
        [(shas[BYTE_AT], shas[BYTE_AT - 1], 1000, 1001, "changed")]
    assert status == 3  # the proof got larger: a regression without any re-measuring
    # the step is a candidate (on a shared machine another may be too: confirmation sorts them out)
    assert shas[STEP_AT] in [r["first_bad"] for r in before["candidates"] if r["metric"] == "prove_cpu_time"], \
        before["candidates"]

    url, handler = hook()
    received = handler.received
    status, after = verdicts(t, capsys, "--confirm", "--webhook", url)
    assert status == 3
    confirmed = [r for r in after["regressions"] if r["metric"] == "prove_cpu_time"]
    assert [(r["first_bad"], r["verdict"]) for r in confirmed] == [(shas[STEP_AT], "confirmed")], after
    evidence = confirmed[0]["evidence"]
    assert evidence["rounds"] == 3 and evidence["samples"] == [9, 9] and evidence["p_value"] < 0.01
    assert 1.3 < evidence["ratio"] and evidence["interval"][0] > 1.1
    assert not after["candidates"]
    assert len(received) == 1 and "prove_cpu_time" in received[0]["text"] and "3 rounds" in received[0]["text"]
    assert "proof_size" in received[0]["text"]

    # the confirmation is kept: asked again, nothing is measured again
    kept = (t.results / "synth" / "confirmations.json").read_bytes()
    capsys.readouterr()
    assert t("regressions", "--confirm") == 3
    assert "confirming" not in capsys.readouterr().out
    assert (t.results / "synth" / "confirmations.json").read_bytes() == kept
    assert read_json(t.results / "synth" / "confirmations.json")["version"] == 1


@pytest.mark.slow
def test_compare_exits_1_on_a_regression_and_0_without(stepped, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    t, shas = stepped
    capsys.readouterr()
    assert t("compare", "-f", "synth", "-m", "linear", shas[STEP_AT - 1], shas[STEP_AT]) == 1
    table = capsys.readouterr().out
    line = next(x for x in table.splitlines() if "prove_cpu_time" in x)
    assert "slower" in line
    assert t("compare", "-f", "synth", "-m", "linear", "--json", shas[0], shas[1]) == 0
    out = capsys.readouterr().out
    rows = {r["metric"]: r for r in json.loads(out)["rows"]}
    # no regression claimed: the same code is "no change", or a move the test does not confirm on a busy machine
    assert rows["prove_cpu_time"]["verdict"] in ("no change", "not confirmed")
    assert rows["proof_size"]["verdict"] == "same"
    assert rows["prove_cpu_time"]["samples"] == [9, 9]
    assert t("compare", "-f", "synth", "-m", "linear", shas[BYTE_AT - 1], shas[BYTE_AT]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if "proof_size" in x)
    assert "1,000 bytes" in line and "1,001 bytes" in line and "worse" in line


class ComingAndGoing:
    """A neighbour that starts and stops on its own clock while a command runs: busy for `on` seconds, then
    quiet for `off`, until stopped; each busy spell is a new pair of processes, stopped by their pids."""

    def __init__(self, on: float = 4.0, off: float = 4.0):
        self.on, self.off, self.spells = on, off, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            neighbour = Neighbour()
            self.spells += 1
            try:
                self.done.wait(self.on)
            finally:
                neighbour.stop()
            self.done.wait(self.off)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=30)


@pytest.mark.slow
def test_bisect_names_the_step_while_a_neighbour_comes_and_goes(stepped, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    t, shas = stepped
    neighbour = Neighbour()
    try:  # the bad end's record beside a neighbour, as the issue saw it
        assert t("run", "-r", shas[-1], "--force", "-m", "linear", "--no-publish") == 0
    finally:
        neighbour.stop()
    capsys.readouterr()
    coming = ComingAndGoing()
    try:
        status = t("bisect", "-f", "synth", "-m", "linear", "--metric", "prove_time", shas[0], shas[-1])
    finally:
        coming.stop()
    out = capsys.readouterr().out
    assert coming.spells >= 2, "the neighbour came and went during the bisection"
    assert status == 0, out
    assert "measuring both ends again, interleaved" in out
    assert out.split("first commit with the new")[1].split()[1] == shas[STEP_AT], out
    probes = [x for x in out.splitlines() if "(good, " in x and "->" in x]
    assert probes and all(" -> bad" in x or " -> good" in x or " -> neither" in x for x in probes), out
    # each probe was measured in rounds with both ends: good, probe, bad, good, probe, bad, ...
    measured = [x.split(":")[0].split()[-1] for x in out.splitlines() if " round " in x]
    good, bad = shas[0][:8], shas[-1][:8]
    triples = [measured[i:i + 3] for i in range(len(measured) - 2)]
    assert sum(a == good and b not in (good, bad) and c == bad for a, b, c in triples) >= 3 * len(probes), out


@pytest.mark.slow
def test_too_few_samples_is_said_with_the_rounds_that_would_settle_it(stepped, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    t, shas = stepped
    capsys.readouterr()
    # peak memory is one value a run: two rounds give 2 + 2, which no test can call a change
    t("compare", "-f", "synth", "-m", "linear", "--rounds", "2", "--json", shas[STEP_AT - 1], shas[STEP_AT])
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    memory = rows["prove_peak_memory"]
    assert memory["verdict"] == "too few samples" and memory["samples"] == [2, 2]
    assert memory["needs"] == "too few samples (needs n >= 5 for p < 0.01; run --rounds 5)"
    assert rows["prove_cpu_time"]["verdict"] == "slower"  # 6 + 6 timing samples can decide
    assert t("bisect", "-f", "synth", "-m", "linear", "--metric", "prove_peak_memory", "--rounds", "3",
             shas[0], shas[-1]) == 1
    out = capsys.readouterr().out
    assert "too few samples (needs n >= 5 for p < 0.01; run --rounds 5)" in out and "nothing to bisect" not in out


def tracker_json(t: Tracker, *args: str) -> dict:
    """The command run as a user runs it, its stdout parsed whole: nothing but the JSON object may be there."""
    done = subprocess.run([sys.executable, "-m", "tracker", "--config", str(t.config), "--results", str(t.results),
                           "--html", str(t.html), "--cache", str(t.root / "cache"), *args],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "ZKML_TRACKER_MACHINE": "test-machine"})
    assert done.returncode in (0, 1, 3), done.stderr
    return {"status": done.returncode, "json": json.loads(done.stdout), "stderr": done.stderr}


@pytest.mark.slow
def test_every_json_output_is_the_json_object_alone_on_stdout(stepped):
    t, shas = stepped
    listed = tracker_json(t, "list", "--json")["json"]
    assert [fw["name"] for fw in listed["frameworks"]] == ["synth"] and listed["frameworks"][0]["revisions"]
    assert "regressions" in tracker_json(t, "regressions", "--json")["json"]
    confirmed = tracker_json(t, "regressions", "--confirm", "--json")
    assert confirmed["status"] == 3 and "candidates" in confirmed["json"]  # the proof got a byte larger
    assert "confirming" not in json.dumps(confirmed["json"])
    compared = tracker_json(t, "compare", "-f", "synth", "-m", "linear", "--json", shas[0], shas[1])
    assert compared["json"]["rows"] and "round 1/3" in compared["stderr"]
    assert "calibration" in tracker_json(t, "machine", "--json")["json"]


@pytest.mark.slow
def test_compare_markdown_is_the_same_verdicts_with_the_unsettled_rows_apart(stepped, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    t, shas = stepped
    capsys.readouterr()
    assert t("compare", "-f", "synth", "-m", "linear", "--markdown", shas[STEP_AT - 1], shas[STEP_AT]) == 1
    captured = capsys.readouterr()
    md, progress = captured.out, captured.err
    assert md.startswith("### zkml-tracker compare: synth") and "round 1/3" in progress and "round 1/3" not in md
    decided, _, apart = md.partition("#### Not confirmed or too few samples")
    row = next(x for x in decided.splitlines() if "| prove_cpu_time |" in x)
    assert "**slower**" in row and "p=" in row and "n=9+9" in row
    assert decided.count("**Regression**:") == 1 and "prove_cpu_time of linear [default] slower" in decided
    # peak memory, 3 values a side: too few for p < 0.01, listed apart with the rounds that would do
    memory = next(x for x in apart.splitlines() if "| prove_peak_memory |" in x)
    assert "too few samples" in memory and "run --rounds 5" in memory
    assert all(line.count("|") == 8 for line in md.splitlines() if line.startswith("| "))


@pytest.mark.slow
def test_a_step_that_vanishes_when_remeasured_is_not_confirmed_and_not_sent(tmp_path, capsys, hook, monkeypatch):
    """No real step: the newest three commits ran while the machine was slow. Nothing is raised."""
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    stall = tmp_path / "machine-is-busy"
    t, shas = tracker_for(tmp_path, [Step(delay=0.05, work=WORK, stall_if=str(stall)) for _ in range(6)], "noisy")
    assert t("run", "-m", "linear", "--no-publish", "-r", shas[0], "-r", shas[1], "-r", shas[2]) == 0
    stall.touch()
    assert t("run", "-m", "linear", "--no-publish", "-r", shas[3], "-r", shas[4], "-r", shas[5]) == 0
    stall.unlink()
    _, seen = verdicts(t, capsys)
    # the stretched wall time is a candidate (a loaded machine may show others: confirmation sorts them out)
    assert ("prove_time", shas[3]) in [(r["metric"], r["first_bad"]) for r in seen["candidates"]], seen

    url, handler = hook()
    received = handler.received
    status, after = verdicts(t, capsys, "--confirm", "--webhook", url)
    assert status == 0 and after["regressions"] == [] and after["candidates"] == []
    gone = [r for r in after["not_confirmed"] if (r["metric"], r["first_bad"]) == ("prove_time", shas[3])]
    assert [r["verdict"] for r in gone] == ["not_confirmed"] and gone[0]["evidence"]["rounds"] == 3
    assert received == []  # never sent
    capsys.readouterr()
    assert t("regressions") == 0
    assert "not confirmed (noise)" in capsys.readouterr().out
    # the site lists it apart
    assert t("publish") == 0
    page = (t.html / "index.html").read_text()
    assert "Not confirmed (noise)" in page and "No regressions in the recorded histories" in page
    # a nightly lists a step judged noise once, then only counts it
    capsys.readouterr()
    assert t("nightly", "-m", "linear") == 0
    first = capsys.readouterr().out
    assert f"prove_time at {shas[3][:8]}" in first and "not confirmed (noise), not alerted" in first
    assert t("nightly", "-m", "linear") == 0
    second = capsys.readouterr().out
    assert "not confirmed (noise), not alerted" not in second
    assert f"{len(after['not_confirmed'])} step(s) judged noise on earlier nights" in second


def test_a_pair_judged_noise_is_listed_apart_on_the_site_and_not_measured_again(tmp_path):
    """The records and confirmations as a nightly leaves them; the report and the page read only those."""
    from tracker import records
    from tracker.config import load_config
    from tracker.fsutil import atomic_write_json
    from tracker.publish.site import write_site
    from tracker.records import ModelResult, StageResult
    from tracker.report.confirm import confirmations_path, pairs_to_confirm, remember
    from tracker.report.regressions import all_changes, find_verdicts
    from tracker.layout import Layout

    (tmp_path / "frameworks.yaml").write_text(
        "version: 1\nframeworks:\n  - name: synth\n    adapter: command\n    proof_system: none\n"
        "    model_format: ONNX\n    repo: /nowhere\n    history: {kind: commits, branch: main}\n"
        "    build: {kind: none}\n    stages: {prove: 'true'}\n")
    config = load_config(tmp_path / "frameworks.yaml")
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    shas = [f"{i:040x}" for i in range(6)]
    for i, sha in enumerate(shas):  # wall time stretched from commit 3 on, CPU time where it was
        r = ModelResult("synth", sha, "linear", "default")
        slow = 2.0 if i >= 3 else 1.0
        r.add(StageResult("prove", samples_s=[slow * x for x in (1.0, 1.01, 0.99)], cpu_s=[0.5, 0.505, 0.495]))
        r.sizes["proof_bytes"] = 1000
        records.save(layout.records("synth"), r)
    atomic_write_json(layout.results / "synth" / "revisions.json", {"version": 1, "revisions": {
        sha: {"label": sha[-8:], "date": f"2024-01-0{i + 1}T00:00:00+00:00", "subject": f"commit {i}"}
        for i, sha in enumerate(shas)}})
    changes = all_changes(config, layout)
    assert [(c.metric.name, c.bad.sha, c.status) for c in changes] == [("prove_time", shas[3], "candidate")]
    assert [p.bad for p in pairs_to_confirm(changes, 10)] == [shas[3]]

    remember(confirmations_path(layout, "synth"), changes[0].pair, {"rounds": 5, "metrics": {"prove_time": {
        "verdict": "not_confirmed", "before": 1.0, "after": 1.02, "ratio": 1.02, "interval": [0.97, 1.08],
        "p_value": 0.31, "samples": [15, 15]}}})
    v = find_verdicts(config, layout)
    assert v.regressions == [] and v.candidates == []
    assert [(r.metric, r.first_bad, r.evidence["p_value"]) for r in v.not_confirmed] == \
        [("prove_time", shas[3], 0.31)]
    assert pairs_to_confirm(all_changes(config, layout), 10) == []  # not measured again
    page = write_site(config, layout).read_text()
    assert "Not confirmed (noise)" in page
    assert "p=0.31, 95% 0.97-1.08x, n=15+15, 5 rounds; CPU time 1.00x" in page  # wall moved, CPU did not


def _sized(rev: str, proof_file: int, proof_raw: int, accuracy: float) -> records.ModelResult:
    return records.ModelResult("ezkl", rev, "mlp", "resources",
                               sizes={"proof_bytes": proof_file, "proof_raw_bytes": proof_raw},
                               accuracy={"circuit_accuracy": accuracy})


def test_a_proof_files_jitter_is_no_change_and_an_accuracy_rise_is_no_regression():
    """Seen in a fresh run of ezkl 23.0.2/.3/.5: proof.json measured 21,232, 21,235 and 21,207 bytes around a
    3,072-byte proof. The raw size is judged; and a circuit that got more accurate is a change for the better."""
    recs = [_sized("a" * 40, 21232, 3072, 0.90), _sized("b" * 40, 21235, 3072, 0.90),
            _sized("c" * 40, 21207, 3072, 0.92), _sized("d" * 40, 21207, 3104, 0.92)]
    changes = changes_of("ezkl", recs, Settings())
    assert [(c.metric.name, c.bad.sha[0], c.worse) for c in changes] == [
        ("proof_size", "d", True), ("circuit_accuracy", "c", False)]


def test_the_smallest_p_is_complete_separation_and_tells_when_samples_cannot_decide():
    from tracker.report import stats

    assert stats.smallest_p(9, 9) == pytest.approx(stats.mann_whitney(range(9), range(10, 19)))
    assert stats.smallest_p(3, 3, "greater") == pytest.approx(stats.mann_whitney([1, 2, 3], [4, 5, 6], "greater"))
    assert not stats.can_decide(2, 2, 0.01, "greater")      # 1/6 is the best two against two can do
    assert stats.samples_needed(0.01, "greater") == 5       # 1/C(10,5) = 0.004
    assert stats.samples_needed(0.005) == 6                 # 2/C(12,6) = 0.0022; 2/C(10,5) = 0.008
