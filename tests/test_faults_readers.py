"""The commands that read state never say "no regressions" on evidence they could not read (issue 22).

One history is run once for the module: six commits of the synthetic prover, twice the CPU work from commit
3 (a timing step, confirmed by re-measuring it interleaved) and a proof of 1,200 bytes instead of 1,000 at
commit 5 (a deterministic regression). Each test works on a copy of those results, damages one state file or
record for real (cut in half, emptied, deleted, garbage bytes, JSON of another shape) and asserts what each
reader says, what it reports, its exit status, and what the next writer makes of the file.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synthetic import Step, make_repo
from tests.test_faults_state import truncate
from tests.test_nightly import Tracker
from tracker.adapters import load_config
from tracker.fsutil import read_json
from tracker.layout import Layout

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
WORK = 3_000_000  # about 0.3 s of CPU a proof: a doubling stands out of start-up and load
STEP_AT, BYTES_AT = 3, 5


def damage(path: Path, how: str) -> None:
    """Damage a state file as a disk filling up, a hand edit or a stray command would."""
    if how == "truncate":
        truncate(path)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"\x00\xff\x13 not json at all \xfe")
    elif how == "other-json":
        path.write_text(json.dumps(["valid", "JSON", "of", "another", "shape"]))


FAULTS = ("truncate", "empty", "delete", "garbage", "other-json")
PROBLEM = {"truncate": "torn", "empty": "torn", "garbage": "torn", "delete": "missing", "other-json": "malformed"}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The results of one run and one confirmation, kept to be copied by each test."""
    base = tmp_path_factory.mktemp("readers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZKML_TRACKER_MACHINE", "test-machine")
        shas = make_repo(base / "repo", [Step(delay=0.0, work=WORK * (2 if i >= STEP_AT else 1),
                                              proof_bytes=1200 if i >= BYTES_AT else 1000) for i in range(6)])
        t = Tracker(base, base / "repo", "kept")
        conf = json.loads("\n".join(x for x in (ROOT / "asv.conf.json").read_text().splitlines()
                                    if not x.lstrip().startswith("//")))
        conf["tracker_verdicts"] = {"rounds": 3}
        (t.root / "asv.conf.json").write_text(json.dumps(conf))
        assert t("run", "-m", "linear", "--no-publish") == 0
        assert t("regressions", "--confirm") == 3
        yield t, shas


@pytest.fixture
def t(history, tmp_path, monkeypatch, capsys):
    """A copy of the kept results (and their cache: the mirror) to damage."""
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    kept, shas = history
    shutil.copytree(kept.root, tmp_path / "copy", symlinks=True)
    copy = Tracker.__new__(Tracker)
    copy.root, copy.config = tmp_path / "copy", tmp_path / "copy" / "frameworks.yaml"
    copy.results, copy.html = copy.root / "results", copy.root / "html"
    capsys.readouterr()
    return copy, shas


def report(t, capsys, *args: str) -> tuple[int, dict, list[str]]:
    """`regressions --json`: its status, its JSON (stdout holds nothing else) and the lines it said."""
    capsys.readouterr()
    status = t("regressions", "--json", *args)
    out = capsys.readouterr()
    return status, json.loads(out.out), out.err.splitlines()


def found(rep: dict) -> set[tuple]:
    return {(r["metric"], r["first_bad"], r["verdict"]) for r in rep["regressions"]}


def both(shas) -> set[tuple]:
    return {("proof_size", shas[BYTES_AT], "changed"), ("prove_cpu_time", shas[STEP_AT], "confirmed")}


def test_the_kept_history_has_both_regressions(t, capsys):
    t, shas = t
    status, rep, said = report(t, capsys)
    assert status == 3 and both(shas) <= found(rep) and said == [] and rep["unreadable"] == []
    size = next(r for r in rep["regressions"] if r["metric"] == "proof_size")
    assert (size["before"], size["after"]) == (1000, 1200)


# --- revisions.json -----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", FAULTS)
def test_a_damaged_revisions_json_is_said_and_the_regressions_are_still_found(t, capsys, how):
    t, shas = t
    index = t.results / "synth" / "revisions.json"
    before = read_json(index)["revisions"]
    damage(index, how)
    damaged = index.read_bytes() if index.exists() else None

    status, rep, said = report(t, capsys)
    assert status == 3 and both(shas) <= found(rep), rep
    assert said == [f"synth: revisions.json was {PROBLEM[how]}: 6 revision(s) read from the records, 6 named by "
                    f"the cached history; written again by the next run or publish"]
    assert (index.read_bytes() if index.exists() else None) == damaged  # a reader takes no lock: it writes nothing

    assert t("list") == 0
    out = capsys.readouterr().out
    assert said[0] in out and all(sha[:10] in out for sha in shas)

    # a writer (here `regressions --confirm`, under the lock) sets it aside and writes it again; nothing re-measured
    assert t("regressions", "--confirm") == 3
    out = capsys.readouterr().out
    assert "confirming" not in out
    if how == "delete":
        assert "synth: revisions.json was missing; 6 revision(s) written again, 6 with label, date and subject " \
               "from the history" in out
    else:
        assert (f"synth: revisions.json was {PROBLEM[how]}: set aside as revisions.json.torn; 6 revision(s) written "
                f"again, 6 with label, date and subject from the history") in out
        assert (index.parent / "revisions.json.torn").read_bytes() == damaged
    assert read_json(index)["revisions"] == before


def test_a_torn_revisions_json_with_no_history_cached_is_ordered_by_asvs_dates(t, capsys):
    t, shas = t
    truncate(t.results / "synth" / "revisions.json")
    shutil.rmtree(t.root / "cache" / "mirrors")
    status, rep, said = report(t, capsys)
    assert status == 3 and both(shas) <= found(rep)
    assert said == ["synth: revisions.json was torn: 6 revision(s) read from the records, 0 named by the cached "
                    "history; written again by the next run or publish"]


def test_revisions_with_no_place_in_the_history_are_no_verdict_and_not_all_clear(t, capsys):
    t, shas = t
    (t.results / "synth" / "revisions.json").write_bytes(b"")
    shutil.rmtree(t.root / "cache" / "mirrors")
    shutil.rmtree(t.results / "synth" / "asv")  # nothing left that dates the revisions
    status, rep, said = report(t, capsys)
    assert status == 1 and rep["regressions"] == [] and rep["unreadable"] == ["synth: revisions.json"]
    assert said[-1] == ("synth: 6 revision(s) have no place in the history (no history cached, no asv result): "
                        "no verdict on synth until `run` or `publish` rebuilds revisions.json")
    assert t("regressions") == 1
    assert "no regressions in what could be read; 1 file(s) could not be read (said above)" in \
        capsys.readouterr().out


# --- confirmations.json -------------------------------------------------------------------------------

@pytest.mark.parametrize("how", FAULTS)
def test_a_damaged_confirmations_json_keeps_its_verdicts_from_the_remeasured_records(t, capsys, how):
    t, shas = t
    path = t.results / "synth" / "confirmations.json"
    kept = read_json(path)["pairs"]
    _, before, _ = report(t, capsys)
    damage(path, how)
    damaged = path.read_bytes() if path.exists() else None

    status, rep, said = report(t, capsys)
    assert status == 3 and both(shas) <= found(rep)
    assert rep["regressions"] == before["regressions"]  # the same verdicts, figures and evidence
    what = f"was {PROBLEM[how]}" if how != "delete" else "was missing"
    assert said == [f"synth: confirmations.json {what}: {len(kept)} verdict(s) judged again from the remeasure/ "
                    f"records; written again by the next nightly"]

    assert t("regressions", "--confirm") == 3
    out = capsys.readouterr().out
    assert "confirming" not in out  # not measured again
    if how != "delete":
        assert (path.parent / "confirmations.json.torn").read_bytes() == damaged
        assert (f"synth: confirmations.json was {PROBLEM[how]}: {len(kept)} verdict(s) judged again from the "
                f"remeasure/ records; set aside as confirmations.json.torn, written again") in out
    again = read_json(path)["pairs"]
    assert {k: v["metrics"] for k, v in again.items()} == {k: v["metrics"] for k, v in kept.items()}
    assert t("regressions", "--json") == 3
    assert capsys.readouterr().err == ""  # whole again: nothing to say


# --- status.json and the site -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["truncate", "garbage", "other-json", "delete"])
def test_a_damaged_status_json_is_said_and_the_site_still_shows_the_framework(t, capsys, how):
    from tracker.publish.site import collect

    t, shas = t
    damage(t.results / "synth" / "status.json", how)
    layout = Layout(t.results, t.html, t.root / "cache")
    lines: list[str] = []
    site = collect(load_config(t.config), layout, say=lines.append)
    [card] = site.cards
    assert card.status == "ok" and card.latest.sha == shas[-1]
    assert {r.regression.metric for r in site.regressions} >= {"proof_size", "prove_cpu_time"}
    if how == "delete":
        assert lines == []
    else:
        assert lines == [f"synth: status.json was {PROBLEM[how]}: the next run writes it again; its state is read "
                         f"from its records"]


# --- records ------------------------------------------------------------------------------------------

def test_a_torn_newest_record_is_said_and_its_series_is_never_all_clear(t, capsys):
    t, shas = t
    newest = t.results / "synth" / "records" / shas[-1] / "linear--default.json"
    truncate(newest)
    status, rep, said = report(t, capsys)
    assert status == 3  # the confirmed timing regression still stands
    assert ("proof_size", shas[BYTES_AT], "changed") not in found(rep)
    assert rep["unreadable"] == [f"synth: {shas[-1][:8]}/linear--default.json"]
    assert said == [f"synth: record {shas[-1][:8]}/linear--default.json is unreadable (torn, or of another "
                    f"format): linear [default] is judged without {shas[-1][:8]} until a run proves it again"]

    # without the confirmed one, nothing is alerted, and it says so: exit 1, never "no regressions", exit 0
    (t.results / "synth" / "confirmations.json").unlink()
    shutil.rmtree(t.results / "synth" / "remeasure")
    status, rep, said = report(t, capsys)
    assert status == 1 and rep["regressions"] == [] and len(said) == 1
    assert t("regressions") == 1
    out = capsys.readouterr().out
    assert said[0] in out and "no regressions in what could be read; 1 file(s) could not be read (said above)" in out
    assert "\nno regressions\n" not in f"\n{out}"
    assert t("list") == 1
    assert f"{shas[-1][:10]} " in (out := capsys.readouterr().out) and "linear--default unreadable" in out


def test_a_record_set_aside_torn_and_not_yet_proved_again_is_no_verdict(t, capsys):
    t, shas = t
    newest = t.results / "synth" / "records" / shas[-1] / "linear--default.json"
    newest.rename(newest.with_name(newest.name + ".torn"))  # what publish leaves until the next run
    (t.results / "synth" / "confirmations.json").unlink()
    shutil.rmtree(t.results / "synth" / "remeasure")
    status, rep, said = report(t, capsys)
    assert status == 1 and said == [f"synth: record {shas[-1][:8]}/linear--default.json was set aside torn and is "
                                    f"not proved again yet: linear [default] is judged without {shas[-1][:8]} until "
                                    f"a run proves it again"]


# --- compare and bisect, which write under the lock ----------------------------------------------------

def test_bisect_and_compare_rebuild_a_torn_revisions_json_before_they_read_it(t, capsys, site_assets):
    t, shas = t
    index = t.results / "synth" / "revisions.json"
    before = read_json(index)["revisions"]
    (t.root / "cache" / "asv-www").symlink_to(site_assets)
    damage(index, "garbage")
    assert t("bisect", "-f", "synth", "-m", "linear", "--metric", "proof_size", shas[0], shas[-1]) == 0
    out = capsys.readouterr().out
    assert ("synth: revisions.json was torn: set aside as revisions.json.torn; 6 revision(s) written again, 6 "
            "with label, date and subject from the history") in out
    assert f"bisect: first commit with the new proof_size: {shas[BYTES_AT]}" in out
    assert read_json(index)["revisions"] == before

    damage(index, "other-json")
    assert t("compare", "-f", "synth", "-m", "linear", "--rounds", "1", shas[BYTES_AT - 1], shas[BYTES_AT]) == 1
    out = capsys.readouterr().out
    assert "synth: revisions.json was malformed: set aside as revisions.json.torn; 6 revision(s) written again" in out
    assert "proof_size" in out and "worse" in out
    assert read_json(index)["revisions"] == before


# --- shards of one framework, merged ----------------------------------------------------------------------

def test_merged_shards_keep_a_confirmed_verdict_and_what_the_nightly_told(t, tmp_path, capsys, site_assets):
    """Two shards of one framework's results: A confirmed the timing step and a real nightly told it; B
    re-measured the other pairs and told nothing. Merged with B last, the step stays confirmed and the next
    nightly tells nothing new (the merge kept the last shard's files alone: the step went back to candidate
    and the nightly told it again)."""
    t, shas = t
    b = tmp_path / "shard-b"
    shutil.copytree(t.results, b)
    index = read_json(b / "synth" / "confirmations.json")
    confirming = [k for k, v in index["pairs"].items()
                  if any(m.get("verdict") == "confirmed" for m in v["metrics"].values())]
    assert confirming
    for key in confirming:  # B never measured the pairs that confirmed the step
        del index["pairs"][key]
        good, bad = key.split("|")[2:]
        shutil.rmtree(b / "synth" / "remeasure" / f"{good[:8]}-{bad[:8]}")
    (b / "synth" / "confirmations.json").write_text(json.dumps(index))
    assert t("nightly", "-m", "linear", "--no-publish") == 3  # A tells its regressions, and keeps what it told
    assert re.search(r"; [1-9][0-9]* new regression\(s\)", capsys.readouterr().out)

    merged = tmp_path / "merged"
    shutil.copytree(t.root, merged, symlinks=True, ignore=shutil.ignore_patterns("results"))
    (merged / "cache" / "asv-www").symlink_to(site_assets)
    m = Tracker.__new__(Tracker)
    m.root, m.config, m.results, m.html = merged, merged / "frameworks.yaml", merged / "results", merged / "html"
    assert m("publish", "--merge", str(t.results), str(b)) == 0
    assert "merged 2 shard(s): synth" in capsys.readouterr().out
    status, rep, _ = report(m, capsys)
    assert status == 3 and both(shas) <= found(rep)
    assert m("nightly", "-m", "linear", "--no-publish") == 0
    out = capsys.readouterr().out
    assert "0 new revision(s) run; 0 candidate pair(s) re-measured; 0 new regression(s)" in out


# --- two hosts under one machine name ------------------------------------------------------------------

def run_as_host(host: str, root: Path, repo: Path, *args: str, kernel: tuple[str, ...] = ()) -> \
        subprocess.CompletedProcess:
    """The tracker as a child on a host of that name: its own UTS namespace (root only), so the records it
    makes name that host, as a second runner's would; `kernel` runs it under a command that changes the
    kernel release it sees (`setarch x86_64 --uname-2.6`), as a runner with another kernel would."""
    command = [*kernel, sys.executable, "-m", "tracker", "--config", str(root / "frameworks.yaml"), "--results",
               str(root / "results"), "--html", str(root / "html"), "--cache", str(root / "cache"), *args]
    script = f'hostname {host} && exec "$@"'
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZKML_TRACKER_MACHINE": "shared-runner"}
    return subprocess.run(["unshare", "--uts", "sh", "-c", script, "sh", *command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_two_hosts_under_one_machine_name_are_kept_apart_and_their_step_is_no_regression(tmp_path, capsys,
                                                                                       site_assets):
    if os.geteuid() != 0 or subprocess.run(["unshare", "--uts", "true"]).returncode != 0:
        pytest.skip("a host of another name needs a UTS namespace (root)")
    stall = tmp_path / "slow-host"  # while it exists, prove waits 0.3 s more: host-b is the slower machine
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.0, stall_if=str(stall)) for _ in range(7)])  # 3 a side: 9 samples each
    shards = {}
    for host, revisions in (("host-a", shas[:4]), ("host-b", shas[3:])):
        shards[host] = Tracker(tmp_path, repo, host)
        (shards[host].root / "cache").mkdir()
        if host == "host-b":
            stall.write_text("")
        done = run_as_host(host, shards[host].root, repo, "run", "-m", "linear", "--no-publish",
                           *(x for sha in revisions for x in ("-r", sha)))
        assert done.returncode == 0, done.stdout + done.stderr
    stall.unlink()
    a_record = (shards["host-a"].results / "synth" / "records" / shas[3] / "linear--default.json").read_bytes()

    t = Tracker(tmp_path, repo, "merged")
    (t.root / "cache").mkdir()
    (t.root / "cache" / "asv-www").symlink_to(site_assets)
    assert t("publish", "--merge", str(shards["host-a"].results), str(shards["host-b"].results)) == 0
    out = capsys.readouterr().out
    cores = os.cpu_count()
    line = (f"synth: 1 commit(s) in {shards['host-b'].results / 'synth'} were measured by host-b: "
            f"{platform.processor() or platform.machine()}, {cores} cores, and the results already hold them "
            f"from host-a: {platform.processor() or platform.machine()}, {cores} cores, under one machine name: "
            f"kept apart (ours stay; theirs are left in the shard)")
    assert line in out, out
    assert (t.results / "synth" / "records" / shas[3] / "linear--default.json").read_bytes() == a_record
    hosts = {sha: read_json(t.results / "synth" / "records" / sha / "linear--default.json")["machine"]["host"]
             for sha in shas}
    assert list(hosts.values()) == ["host-a"] * 4 + ["host-b"] * 3

    status, rep, _ = report(t, capsys)
    assert status == 0 and rep["regressions"] == [], rep
    # no step at the host boundary is a candidate (a 0.03 s prover's noise within one host may be)
    assert shas[4] not in [r["first_bad"] for r in rep["candidates"]], rep["candidates"]
    [step] = [r for r in rep["machine_changed"] if r["metric"] == "prove_time"]
    assert step["first_bad"] == shas[4] and step["verdict"] == "machine_changed" and step["ratio"] > 1.3
    assert step["evidence"]["machines"].startswith("host-a: ") and " -> host-b: " in step["evidence"]["machines"]
    assert t("regressions") == 0
    assert "machine changed: steps between two hosts under one machine name, not regressions" in \
        capsys.readouterr().out
