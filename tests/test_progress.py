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
    # cnn was never recorded and nothing has run yet: no made-up estimate
    assert progress.starting(("fw", "mlp", "default"), "fw r1 mlp [default] proving") == \
        "[1/4] fw r1 mlp [default] proving"
    progress.finished(("fw", "mlp", "default"), 140.0)
    progress.finished(("fw", "cnn", "default"), 20.0)
    # left: mlp 150 s from its record, cnn the mean of this run's units (80 s)
    assert progress.starting(("fw", "mlp", "default"), "fw r2 mlp [default] proving") == \
        "[3/4] fw r2 mlp [default] proving; about 4 min left"
    progress.dropped([("fw", "cnn", "default")])
    assert progress.total == 3 and progress.left() == 150.0


@pytest.mark.slow
def test_a_run_says_where_it_is_and_how_long_is_left(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05), Step(delay=0.05), Step(delay=0.05)])
    (tmp_path / "frameworks.yaml").write_text(config_text(repo))
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache"), "run",
            "-m", "linear", "-m", "mlp", "--repeats", "1", "--no-publish"]
    assert main(args) == 0
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines() if "] proving" in ln]
    assert [ln.split("]")[0] for ln in lines] == [f"[{i}/6" for i in range(1, 7)]
    assert "left" not in lines[0] and all(re.search(r"; about \d+ s left$", ln) for ln in lines[1:])
    assert main(args + ["--force"]) == 0                 # now every unit has a record to estimate from
    again = [ln.strip() for ln in capsys.readouterr().out.splitlines() if "] proving" in ln]
    assert len(again) == 6 and all(re.search(r"; about \d+ s left$", ln) for ln in again)
