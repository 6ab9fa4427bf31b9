"""A machine name stands for one asv description, so runners sharing the name share the series.

asv puts every field of a machine's description into a series' graph path; a second runner with the same
`ZKML_TRACKER_MACHINE` but another kernel release or RAM figure would start new graphs. The real `asv machine`
is run here against results that already hold a description for the name.
"""
from __future__ import annotations

import json
import os

from tracker.fsutil import read_json
from tracker.run import asv


def _config(tmp_path):
    results = tmp_path / "results"
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps({"version": 1, "project": "synth", "repo": str(tmp_path), "branches": ["main"],
                                  "environment_type": "existing", "results_dir": str(results),
                                  "html_dir": str(tmp_path / "html"), "benchmark_dir": str(tmp_path)}))
    return config, results


def test_a_recorded_description_is_reused_for_the_same_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "shared-runner")
    config, results = _config(tmp_path)
    recorded = {"arch": "x86_64", "cpu": "Some CPU @ 2.00GHz", "machine": "shared-runner", "num_cpu": "4",
                "os": "Linux 5.15.0-1001-azure", "ram": "16373528", "version": 1}
    (results / "shared-runner").mkdir(parents=True)
    (results / "shared-runner" / "machine.json").write_text(json.dumps(recorded))

    assert asv.ensure_machine(config) == "shared-runner"

    written = read_json(tmp_path / ".asv-machine.json")["shared-runner"]
    assert {k: written[k] for k in asv.MACHINE_FIELDS} == {k: recorded[k] for k in asv.MACHINE_FIELDS}


def test_a_new_name_gets_this_machines_own_description(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "fresh-runner")
    config, _results = _config(tmp_path)

    asv.ensure_machine(config)

    written = read_json(tmp_path / ".asv-machine.json")["fresh-runner"]
    assert written["num_cpu"] == str(os.cpu_count())
    assert written["os"].startswith(os.uname().sysname)


def test_a_name_recorded_alone_stays_alone(tmp_path, monkeypatch):
    """Results asv wrote with the name as the whole description keep their series."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "bare")
    config, results = _config(tmp_path)
    (results / "bare").mkdir(parents=True)
    (results / "bare" / "machine.json").write_text(json.dumps({"machine": "bare", "version": 1}))

    asv.ensure_machine(config)

    assert read_json(tmp_path / ".asv-machine.json")["bare"] == {"machine": "bare"}
