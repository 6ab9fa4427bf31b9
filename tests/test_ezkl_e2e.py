"""The main job end to end with real ezkl releases from PyPI: build, prove, asv run, asv publish, the site.

Two releases with different APIs (22.x takes `proof_type` in prove; 23.x does not) are installed into
their own venvs by the build module; builds and SRS files are cached in ZKML_TEST_CACHE between runs.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_accuracy_labels import assert_ezkl_calibrated_on_training_images
from tests.test_site import CHROMIUM, Page, chromium
from tracker.cli import main
from tracker.commands.preview import make_server
from tracker.metrics import METRICS
from tracker.publish.units import format_value

RELEASES = ("22.2.4", "23.0.5")  # 22.3.0, released after 23.0.2, is on its own line (off the followed one)
pytestmark = pytest.mark.slow


def test_two_releases_give_one_point_per_release_for_every_metric(tmp_path, tracker_cache, monkeypatch, capsys):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    results, html = tmp_path / "results", tmp_path / "html"
    shutil.rmtree(tracker_cache / "stage-data", ignore_errors=True)  # keys, witnesses made here
    args = ["--config", str(ROOT / "frameworks.yaml"), "--results", str(results), "--html", str(html),
            "--cache", str(tracker_cache)]
    status = main([*args, "run", "-f", "ezkl", "-r", RELEASES[0], "-r", RELEASES[1], "-m", "linear",
                   "--variant", "resources", "--repeats", "2", "--eval-count", "240"])
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
    latest = next(r for r in (json.loads(p.read_text()) for p in (results / "ezkl" / "records").rglob(
        "linear--resources.json")) if r["provenance"]["ezkl_version"] == RELEASES[1])
    assert latest["status"] == "ok" and latest["settings"]["used_logrows"] >= 1
    assert "gen_srs" in latest["provenance"]["srs"] and latest["machine"]["cores"]
    assert len(latest["stages"]["prove"]["samples_s"]) == 2
    # each repeat's own peak memory, the python process's high-water mark reset before each prove call
    peaks = latest["stages"]["prove"]["peak_rss_samples"]
    assert len(peaks) == 2 and all(20 << 20 < p <= latest["stages"]["prove"]["peak_rss_bytes"] for p in peaks)
    # the accuracy pass split over a worker per core, its outputs put back in input order
    workers = min(os.cpu_count() or 1, 2)
    assert latest["provenance"]["accuracy_workers"] == str(workers)
    assert latest["accuracy"]["n"] == 240 and latest["accuracy"]["top1_agreement"] >= 0.99
    assert len(latest["stages"]["accuracy"]["samples_s"]) == 240
    assert_ezkl_calibrated_on_training_images(latest, tracker_cache, 240)

    # proved again (--force): new prove samples, the same witnesses read back, not made again
    assert main([*args, "run", "-f", "ezkl", "-r", RELEASES[1], "-m", "linear", "--variant", "resources",
                 "--repeats", "2", "--eval-count", "240", "--force", "--no-publish"]) == 0
    again = next(r for r in (json.loads(p.read_text()) for p in (results / "ezkl" / "records").rglob(
        "linear--resources.json")) if r["provenance"]["ezkl_version"] == RELEASES[1])
    assert again["stages"]["prove"]["samples_s"] != latest["stages"]["prove"]["samples_s"]
    assert again["stages"]["accuracy"]["reason"].startswith("reused ")
    assert again["stages"]["accuracy"]["samples_s"] == [] and again["accuracy"] == latest["accuracy"]
    assert again["stages"]["setup"]["reason"].startswith("reused ") and again["stages"]["verify"]["status"] == "ok"
    assert again["sizes"]["pk_bytes"] == latest["sizes"]["pk_bytes"]
    if CHROMIUM:
        in_a_browser(html, latest, tmp_path)


def in_a_browser(html: Path, latest: dict, tmp_path: Path) -> None:
    """The comparison table shows the latest release's prove time; its link opens asv's graph, which draws."""
    server = make_server(html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        page = Page(chromium(tmp_path, base + "index.html", "--dump-dom"))
        prove = page.cell("ezkl", "linear", "resources", "prove_time")
        assert prove["text"] == format_value(statistics.median(latest["stages"]["prove"]["samples_s"]), "seconds")
        graph = chromium(tmp_path, base + prove["href"], "--virtual-time-budget=10000", "--dump-dom")
        assert 'class="flot-base"' in graph and "flot-tick-label" in graph  # flot drew the plot and its axes
        assert ">benchmarks.ProveTime.track_prove_time<" in graph
    finally:
        server.shutdown()
        server.server_close()
