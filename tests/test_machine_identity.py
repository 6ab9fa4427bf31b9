"""A machine name stands for one asv description, so runners sharing the name share the series.

asv puts every field of a machine's description into a series' graph path; a second runner with the same
`ZKML_TRACKER_MACHINE` but another kernel release or RAM figure would start new graphs. The store keeps the
description in the results (asv/<machine>/machine.json), never in the user's ~/.asv-machine.json.
"""
from __future__ import annotations

import json
import os

from tracker.fsutil import read_json
from tracker.layout import Layout
from tracker.store import asv as sink
from tracker.store.paths import FrameworkStore


def _store(tmp_path, monkeypatch, name: str) -> FrameworkStore:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", name)
    return FrameworkStore(Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache"), "synth")


def test_a_recorded_description_is_reused_for_the_same_name(tmp_path, monkeypatch):
    store = _store(tmp_path, monkeypatch, "shared-runner")
    recorded = {"arch": "x86_64", "cpu": "Some CPU @ 2.00GHz", "machine": "shared-runner", "num_cpu": "4",
                "os": "Linux 5.15.0-1001-azure", "ram": "16373528", "version": 1}
    store.asv_machine("shared-runner").mkdir(parents=True)
    (store.asv_machine("shared-runner") / "machine.json").write_text(json.dumps(recorded))

    assert sink.prepare_machine(store) == "shared-runner"

    assert read_json(store.asv_machine("shared-runner") / "machine.json") == recorded  # left as it was
    assert sink.recorded_machine(store, "shared-runner") == {k: recorded[k] for k in sink.MACHINE_FIELDS}
    assert not (tmp_path / "home" / ".asv-machine.json").exists()


def test_a_new_name_gets_this_machines_own_description(tmp_path, monkeypatch):
    store = _store(tmp_path, monkeypatch, "fresh-runner")

    sink.prepare_machine(store)

    written = read_json(store.asv_machine("fresh-runner") / "machine.json")
    assert written["num_cpu"] == str(os.cpu_count()) and written["machine"] == "fresh-runner"
    assert written["os"].startswith(os.uname().sysname)
    assert not (tmp_path / "home" / ".asv-machine.json").exists()


def test_a_name_recorded_alone_stays_alone(tmp_path, monkeypatch):
    """Results asv wrote with the name as the whole description keep their series."""
    store = _store(tmp_path, monkeypatch, "bare")
    store.asv_machine("bare").mkdir(parents=True)
    (store.asv_machine("bare") / "machine.json").write_text(json.dumps({"machine": "bare", "version": 1}))

    sink.prepare_machine(store)

    assert sink.recorded_machine(store, "bare") == {}
    assert read_json(store.asv_machine("bare") / "machine.json") == {"machine": "bare", "version": 1}
