"""A machine name stands for one asv description, so runners sharing the name share the series.

asv puts every field of a machine's description into a series' graph path; a second runner with the same
`ZKML_TRACKER_MACHINE` but another kernel release or RAM figure would start new graphs. The store keeps the
description in the results (asv/<machine>/machine.json), never in the user's ~/.asv-machine.json.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.synthetic import Step, make_repo
from tests.test_faults_readers import run_as_host
from tests.test_nightly import Tracker
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


@pytest.mark.slow
def test_a_shard_describing_the_name_otherwise_is_kept_apart_and_never_rebinds_it(tmp_path, capsys, site_assets):
    """Two hosts under one machine name, the second on another kernel release (so another asv description),
    each from empty results, on commits of their own: the merge keeps both hosts' results (asv graphs the
    second as a series of its own) and says so naming both; the name keeps the results' description, so the
    next run on the merged results adds to the first series (it was rebound to the last shard's, silently)."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "--uts", "true"]).returncode != 0 or \
            subprocess.run(["setarch", "x86_64", "--uname-2.6", "true"]).returncode != 0:
        pytest.skip("another host name and kernel release need a UTS namespace (root) and setarch")
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.0) for _ in range(5)])
    shards = {host: Tracker(tmp_path, repo, host) for host in ("host-a", "host-b")}
    for (host, t), revisions, kernel in zip(shards.items(), (shas[:2], shas[2:4]),
                                            ((), ("setarch", "x86_64", "--uname-2.6"))):
        (t.root / "cache").mkdir()
        done = run_as_host(host, t.root, repo, "run", "-m", "linear", "--repeats", "1", "--no-publish",
                           *(x for sha in revisions for x in ("-r", sha)), kernel=kernel)
        assert done.returncode == 0, done.stdout + done.stderr
    described = {host: read_json(t.results / "synth" / "asv" / "shared-runner" / "machine.json")
                 for host, t in shards.items()}
    assert described["host-b"]["os"].split()[1].startswith("2.6.") and described["host-b"] != described["host-a"]

    t = Tracker(tmp_path, repo, "merged")
    (t.root / "cache").mkdir()
    (t.root / "cache" / "asv-www").symlink_to(site_assets)
    assert t("publish", "--merge", str(shards["host-a"].results), str(shards["host-b"].results)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"synth: machine name shared-runner is described in {shards['host-b'].results / 'synth'} as "
                      f"os {described['host-b']['os']} (host-b), and the results bind it to os "
                      f"{described['host-a']['os']} (host-a): kept apart (the name keeps the results' description; "
                      f"the shard's results keep theirs and are graphed as a series of their own)")
    machine = t.results / "synth" / "asv" / "shared-runner"
    assert read_json(machine / "machine.json") == described["host-a"]
    series = {read_json(p)["commit_hash"]: read_json(p)["params"]["os"] for p in machine.glob("*-existing-*.json")}
    assert series == {**{sha: described["host-a"]["os"] for sha in shas[:2]},
                      **{sha: described["host-b"]["os"] for sha in shas[2:4]}}

    done = run_as_host("host-a", t.root, repo, "run", "-m", "linear", "--repeats", "1", "--no-publish", "-r", shas[4])
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_json(machine / "machine.json") == described["host-a"]
    [new] = machine.glob(f"{shas[4][:8]}-*.json")
    assert read_json(new)["params"]["os"] == described["host-a"]["os"]
