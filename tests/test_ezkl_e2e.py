"""The main job end to end with real ezkl releases from PyPI: build, prove, asv run, asv publish, the site.

Two releases with different APIs (22.x takes `proof_type` in prove; 23.x does not) are installed into
their own venvs by the build module; builds and SRS files are cached in ZKML_TEST_CACHE between runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.cli import main
from tracker.metrics import METRICS

RELEASES = ("22.3.0", "23.0.5")
pytestmark = pytest.mark.slow


def test_two_releases_give_one_point_per_release_for_every_metric(tmp_path, test_cache, monkeypatch, capsys):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    results, html = tmp_path / "results", tmp_path / "html"
    args = ["--config", str(ROOT / "frameworks.yaml"), "--results", str(results), "--html", str(html),
            "--cache", str(test_cache / "tracker-cache")]
    status = main([*args, "run", "-f", "ezkl", "-r", RELEASES[0], "-r", RELEASES[1], "-m", "linear",
                   "--variant", "resources", "--repeats", "2", "--eval-count", "50"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"site published: open {html / 'index.html'}" in out

    graphs = {p.name: json.loads(p.read_text()) for p in (html / "ezkl" / "graphs").rglob("*.json")
              if "summary" not in p.parts}
    for metric in METRICS:
        if metric.name == "circuit_constraints":
            continue  # R1CS constraints: not an ezkl metric
        points = graphs[f"{metric.benchmark}.json"]
        values = [v for _, v in points if v is not None]
        assert len(values) == 2, (metric.name, points)
    index = json.loads((html / "ezkl" / "index.json").read_text())
    assert len(index["revision_to_hash"]) >= 2
    page = (html / "index.html").read_text()
    assert "ezkl" in page and RELEASES[1] in page

    # what the records keep beside asv: settings used, provenance of the SRS, the machine
    record = json.loads(next((results / "ezkl" / "records").rglob("linear--resources.json")).read_text())
    assert record["status"] == "ok" and record["settings"]["used_logrows"] >= 1
    assert "gen_srs" in record["provenance"]["srs"] and record["machine"]["cores"]
    assert len(record["stages"]["prove"]["samples_s"]) == 2
