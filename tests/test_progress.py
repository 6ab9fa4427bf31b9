"""Progress on long work: each proving line says where the run is and, once anything is known, how long is
left, from earlier records or from what this run has done so far."""
from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.synthetic import Step, config_text, make_repo
from tracker import records
from tracker.cli import main
from tracker.records import ModelResult, StageResult
from tracker.run.progress import Progress


def test_the_estimate_comes_from_earlier_records_then_from_this_run(tmp_path):
    rec = ModelResult("fw", "a" * 40, "mlp", "default")
    rec.add(StageResult("setup", child_wall_s=100.0))
    rec.add(StageResult("prove", child_wall_s=50.0))
    records.save(tmp_path, rec)
    progress = Progress()
    progress.plan([("fw", "mlp", "default"), ("fw", "cnn", "default")] * 2, tmp_path)
    assert progress.total == 4 and progress.estimates == {("fw", "mlp", "default"): 150.0}
    # cnn was never recorded and nothing has run yet: mlp's two units are counted, cnn's named, not guessed
    assert progress.starting(("fw", "mlp", "default"), "fw r1 mlp [default] proving") == \
        "[1/4] fw r1 mlp [default] proving; about 5 min left, besides 2 fw proofs never timed here"
    assert progress.left() is None
    progress.finished(("fw", "mlp", "default"), 140.0)
    progress.finished(("fw", "cnn", "default"), 20.0)
    # left: mlp 150 s from its record, cnn the mean of this run's units of fw (80 s)
    assert progress.starting(("fw", "mlp", "default"), "fw r2 mlp [default] proving") == \
        "[3/4] fw r2 mlp [default] proving; about 4 min left"
    progress.dropped([("fw", "cnn", "default")])
    assert progress.total == 3 and progress.left() == 150.0


def test_one_framework_s_proofs_do_not_estimate_another_s(tmp_path):
    """A first run of circom then o1js: circom's seconds say nothing of o1js's minutes, so o1js's units are
    named as not counted until one of them has run."""
    progress = Progress()
    progress.plan([("circom", "linear", "default"), ("circom", "mlp", "default")], tmp_path)
    progress.plan([("o1js", "linear", "default"), ("o1js", "mlp", "default")], tmp_path)
    assert progress.total == 4
    progress.finished(("circom", "linear", "default"), 10.0)
    assert progress.starting(("circom", "mlp", "default"), "circom mlp proving") == \
        "[2/4] circom mlp proving; about 10 s left, besides 2 o1js proofs never timed here"
    progress.finished(("circom", "mlp", "default"), 10.0)
    progress.finished(("o1js", "linear", "default"), 300.0)
    assert progress.starting(("o1js", "mlp", "default"), "o1js mlp proving") == \
        "[4/4] o1js mlp proving; about 5 min left"


@pytest.mark.slow
def test_a_run_says_where_it_is_and_how_long_is_left(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05), Step(delay=0.05), Step(delay=0.05)])
    text = config_text(repo)
    second = text[text.index("  - name: synth"):].replace("name: synth", "name: synth2")
    (tmp_path / "frameworks.yaml").write_text(text + second)   # two frameworks: the count is the whole run's
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache"), "run",
            "-m", "linear", "--repeats", "1", "--no-publish"]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = [ln.strip() for ln in out.splitlines() if "] proving" in ln]
    assert [ln.split("]")[0] for ln in lines] == [f"[{i}/6" for i in range(1, 7)]
    assert out.index("synth2: 3 revision(s) to run") < out.index("[1/6]")   # both chosen before any proof
    assert "left" not in lines[0]
    assert all(re.search(r"; about \d+ s left, besides 3 synth2 proofs never timed here$", ln) for ln in lines[1:3])
    assert "left" not in lines[3]          # synth2's first proof: nothing to estimate it from
    assert all(re.search(r"; about \d+ s left$", ln) for ln in lines[4:])
    assert main(args + ["--force"]) == 0                 # now every unit has a record to estimate from
    again = [ln.strip() for ln in capsys.readouterr().out.splitlines() if "] proving" in ln]
    assert len(again) == 6 and all(re.search(r"; about \d+ s left$", ln) for ln in again)
