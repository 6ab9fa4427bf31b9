"""Faults in publishing and in the tracker's own state, provoked for real (issue 15): a publish killed
part-way, two publishes at once, torn state files, a config fixed after it failed every record, a results
dir that cannot be written. Each test asserts the exact outcome and that nothing recorded is lost.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

from tests.synthetic import Step, add_commit, config_text, make_repo
from tests.test_reliability import Tracker, assert_no_torn_json, survivors, wait_for
from tracker.fsutil import read_json
from tracker.records import RECORD_VERSION

pytestmark = pytest.mark.slow
LINEAR = ["-m", "linear", "--repeats", "1"]


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")


def tracker(tmp_path: Path, repo: Path, site_assets: Path, text: str | None = None) -> Tracker:
    t = Tracker(tmp_path / "t", text or config_text(repo))
    t.cache.mkdir(parents=True, exist_ok=True)
    (t.cache / "asv-www").symlink_to(site_assets)
    t.html = t.root / "html"
    return t


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# --- publishing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("when", ["asv started writing", "graphs half written"])
def test_a_publish_killed_part_way_leaves_the_previous_site_whole(tmp_path, capsys, site_assets, when):
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05, proof_bytes=1000 + i) for i in range(3)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR) == 0
    site = t.html / "synth"
    before = tree(site)
    assert {"index.html", "index.json", "regressions.json"} <= set(before)
    aside = t.html / ".synth.publishing"
    ready = (lambda: aside.exists()) if when == "asv started writing" else \
        (lambda: (aside / "graphs").is_dir() and any((aside / "graphs").rglob("*.json")))

    child = t.start("publish", log="publish.log")
    wait_for(lambda: ready() or child.poll() is not None, what=f"publish: {when}")
    assert child.poll() is None, "the publish ended before it could be killed"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert survivors(str(t.root), grace=1) == []
    assert tree(site) == before  # the previous site, byte for byte, index and graphs included

    capsys.readouterr()
    assert t("nightly", "-m", "linear") in (0, 3)  # nothing new, the site whole (3: timing noise regressed)
    out = capsys.readouterr().out
    assert "0 new revision(s) run" in out and "incomplete" not in out
    if "; 0 candidate pair(s) re-measured" in out:  # a re-measured noise candidate publishes its verdict
        assert "site published" not in out

    assert t("publish") == 0
    assert not aside.exists() and not (t.html / ".synth.replaced").exists()
    assert set(tree(site)) == set(before)


def test_a_nightly_with_nothing_new_repairs_a_broken_site(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05) for _ in range(2)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR) == 0
    graphs = sorted(str(p.relative_to(t.html)) for p in (t.html / "synth" / "graphs").rglob("*.json"))
    # what a publish of the old tracker, killed part-way, left: asv's site without its index and graphs
    (t.html / "synth" / "index.json").unlink()
    shutil.rmtree(t.html / "synth" / "graphs")
    capsys.readouterr()
    assert t("nightly", "-m", "linear") in (0, 3)  # 3: the 0.05 s timings may read as a regression
    out = capsys.readouterr().out
    assert "the published site is incomplete (synth): publishing it again" in out
    assert "0 new revision(s) run" in out
    assert (t.html / "synth" / "index.json").is_file()
    assert sorted(str(p.relative_to(t.html)) for p in (t.html / "synth" / "graphs").rglob("*.json")) == graphs

    (t.html / "index.html").unlink()  # the comparison page alone
    assert t("nightly", "-m", "linear") in (0, 3)  # 3: the 0.05 s timings may read as a regression
    assert "the published site is incomplete (the comparison page): publishing it again" in capsys.readouterr().out
    assert (t.html / "index.html").is_file()


def test_two_publishes_at_once_one_runs_the_other_says_so(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05) for _ in range(2)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR, "--no-publish") == 0
    lock = t.results / ".tracker.lock"
    first = t.start("publish", log="first.log")
    wait_for(lambda: lock.exists() and lock.read_text() == f"{first.pid} publish" or first.poll() is not None,
             what="the first publish's lock")
    assert first.poll() is None
    capsys.readouterr()
    assert t("publish") == 75
    out = capsys.readouterr()
    assert out.out == "" and out.err == (f"zkml-tracker: publish not started: another zkml-tracker (publish, pid "
                                         f"{first.pid}) holds {lock}; try again when it ends\n")
    for command in (["run", *LINEAR], ["nightly", "-m", "linear"]):  # one lock for every writer
        assert t(*command) == 75
        assert capsys.readouterr().err.startswith(f"zkml-tracker: {command[0]} not started: another zkml-tracker "
                                                  f"(publish, pid {first.pid})")
    assert first.wait(timeout=300) == 0
    assert "asv publish failed" not in (t.root / "first.log").read_text()
    assert (t.html / "synth" / "index.json").is_file() and (t.html / "index.html").is_file()

    # started together, as two cron lines would: each either publishes whole or says it is busy
    children = [t.start("publish", log=f"both-{i}.log") for i in range(2)]
    codes = sorted(c.wait(timeout=300) for c in children)
    assert codes in ([0, 0], [0, 75]), codes
    logs = "".join((t.root / f"both-{i}.log").read_text() for i in range(2))
    assert "failed" not in logs and "Traceback" not in logs
    assert logs.count("zkml-tracker: publish not started: another zkml-tracker (") == codes.count(75)
    assert (t.html / "synth" / "index.json").is_file() and not (t.html / ".synth.publishing").exists()


# --- torn state files ----------------------------------------------------------------------------------

def truncate(path: Path) -> bytes:
    """Cut a file in half, as a disk filling up or an interrupted copy leaves it; return what is left."""
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


def test_a_torn_revisions_json_is_rebuilt_from_the_mirror_and_the_records(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05, subject=f"change {i}: faster <b>") for i in range(3)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR) == 0
    index = t.results / "synth" / "revisions.json"
    before = read_json(index)["revisions"]
    assert set(before) == set(shas) and before[shas[1]]["subject"] == "change 1: faster <b>"
    torn = truncate(index)
    new = add_commit(repo, Step(delay=0.05, subject="change 3"))
    capsys.readouterr()

    assert t("nightly", "-m", "linear") in (0, 3)  # 3: the 0.05 s timings may read as a regression
    out = capsys.readouterr().out
    assert ("synth: revisions.json was torn: set aside as revisions.json.torn; 3 revision(s) written again, "
            "3 with label, date and subject from the history") in out
    assert "1 new revision(s) run" in out
    after = read_json(index)["revisions"]
    assert set(after) == set(shas) | {new}
    assert {sha: after[sha] for sha in shas} == before  # labels, dates and subjects, all as they were
    assert after[new]["subject"] == "change 3"
    assert (index.parent / "revisions.json.torn").read_bytes() == torn

    # torn again while the history cannot be had: nothing writes it until the history is back
    truncate(index)
    shutil.rmtree(t.cache / "mirrors")
    shutil.move(repo, tmp_path / "elsewhere")
    capsys.readouterr()
    assert t("nightly", "-m", "linear") == 1   # a local repo: gone with no mirror: the framework failed, said
    out = capsys.readouterr().out
    assert "does not exist (and no mirror of it is cached)" in out
    shutil.move(tmp_path / "elsewhere", repo)
    assert t("publish") == 0
    out = capsys.readouterr().out
    assert ("synth: revisions.json was torn: set aside as revisions.json.torn; 4 revision(s) written again, "
            "4 with label, date and subject from the history") in out
    assert read_json(index)["revisions"] == after


def test_a_torn_newest_record_is_said_shown_from_the_one_before_and_proved_again(tmp_path, capsys,
                                                                                  site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05, proof_bytes=1000 + i) for i in range(3)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", "-m", "linear", "-m", "mlp", "--repeats", "1") == 0
    newest = t.results / "synth" / "records" / shas[2] / "linear--default.json"
    kept = {p: p.read_bytes() for p in (t.results / "synth" / "records").rglob("*.json") if p != newest}
    torn = truncate(newest)
    capsys.readouterr()

    assert t("publish") == 0
    out = capsys.readouterr().out
    assert (f"synth: record {shas[2][:8]}/linear--default.json was torn: set aside as linear--default.json.torn; "
            f"the page shows linear--default from {shas[1][:8]}, the revision before, until a run proves it "
            f"again") in out
    page = (t.html / "index.html").read_text()
    assert "no results yet" not in page and "1,001" in page and "1,002" in page  # linear from shas[1], mlp newest

    assert t("nightly", "-m", "linear", "-m", "mlp") in (0, 3)
    out = capsys.readouterr().out
    assert "1 new revision(s) run" in out  # the revision whose record was lost, not the whole history
    assert f"synth {shas[2][:8]} linear [default] proving" in out and "mlp [default] proving" not in out
    assert read_json(newest)["sizes"]["proof_bytes"] == 1002
    assert newest.with_name(newest.name + ".torn").read_bytes() == torn
    assert all(p.read_bytes() == data for p, data in kept.items())
    assert_no_torn_json(t.results)


def test_a_torn_record_found_by_run_is_said_and_proved_again(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05, proof_bytes=1500)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR, "--no-publish") == 0
    record = t.results / "synth" / "records" / shas[0] / "linear--default.json"
    truncate(record)
    status = t.results / "synth" / "status.json"
    truncate(status)
    capsys.readouterr()
    assert t("run", *LINEAR, "--no-publish") == 0
    out = capsys.readouterr().out
    assert "synth: status.json was torn: set aside as status.json.torn; this run writes it again" in out
    assert (f"synth {shas[0][:8]}: record linear--default.json was torn: set aside as linear--default.json.torn; "
            f"linear [default] is proved again") in out
    assert f"synth {shas[0][:8]} linear [default] proving" in out
    assert read_json(record)["sizes"]["proof_bytes"] == 1500
    assert read_json(status)["revisions"][0]["status"] == "ok"


# --- a failure caused by the config is run again once the config is fixed ------------------------------

def test_a_failure_the_config_caused_runs_again_once_the_config_is_fixed(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05, proof_bytes=1200) for _ in range(2)])
    good = config_text(repo)
    bad = good.replace("prover.py prove {workdir}", "prover.py prove {workdir}/nope")
    t = tracker(tmp_path, repo, site_assets, bad)
    assert t("nightly", "-m", "linear") == 0
    assert "2 new revision(s) run" in capsys.readouterr().out
    for sha in shas:
        assert t.record(sha, "linear")["status"] == "error"

    # the same config: nothing to do, as before
    assert t("run", *LINEAR, "--no-publish", "-r", shas[1]) == 1
    assert "already kept; nothing to do" in capsys.readouterr().out
    assert t("nightly", "-m", "linear") == 0
    assert "0 new revision(s) run" in capsys.readouterr().out

    t.config.write_text(good)  # fixed: no --force needed
    assert t("nightly", "-m", "linear") == 0
    out = capsys.readouterr().out
    assert f"synth {shas[0][:8]}: linear[default] failed under another config; run again" in out
    assert "2 new revision(s) run" in out
    for sha in shas:
        rec = t.record(sha, "linear")
        assert rec["status"] == "ok" and rec["sizes"]["proof_bytes"] == 1200 and rec["version"] == RECORD_VERSION
        assert rec["key"] and t.asv_result(sha) is not None
    assert t("nightly", "-m", "linear") in (0, 3)
    assert "0 new revision(s) run" in capsys.readouterr().out
    assert t("run", *LINEAR, "--no-publish", "-r", shas[1]) == 0
    assert "already kept; nothing to do" in capsys.readouterr().out


def test_a_record_of_format_version_1_is_read_and_kept(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05, proof_bytes=1300)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR, "--no-publish") == 0
    path = t.results / "synth" / "records" / shas[0] / "linear--default.json"
    old = read_json(path)
    old.pop("key")
    old["version"] = 1
    path.write_text(json.dumps(old))
    capsys.readouterr()
    assert t("run", *LINEAR) == 0
    assert "already kept; nothing to do" in capsys.readouterr().out
    assert read_json(path) == old
    assert "1,300" in (t.html / "index.html").read_text()


def test_a_build_failure_the_recipe_caused_is_built_again_once_the_recipe_is_fixed(tmp_path, capsys,
                                                                                     site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05)])
    good = config_text(repo)
    bad = good.replace("import ast;", "import no_such_module;")
    t = tracker(tmp_path, repo, site_assets, bad)
    assert t("nightly", "-m", "linear", "--no-publish") == 0
    assert read_json(t.results / "synth" / "builds" / f"{shas[0]}.json")["status"] == "build_failed"
    assert t("nightly", "-m", "linear", "--no-publish") == 0
    assert "0 new revision(s) run" in capsys.readouterr().out
    t.config.write_text(good)
    assert t("nightly", "-m", "linear", "--no-publish") == 0
    assert "1 new revision(s) run" in capsys.readouterr().out
    assert t.record(shas[0], "linear")["status"] == "ok"
    assert not (t.results / "synth" / "builds" / f"{shas[0]}.json").exists()
    assert t("list") == 0
    assert "build failed" not in capsys.readouterr().out


# --- the disk says no ----------------------------------------------------------------------------------

@contextmanager
def tmpfs(path: Path, size: str, copy_from: Path | None = None):
    """A real file system of `size` mounted on `path` (root only), holding a copy of `copy_from`."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        if copy_from is not None:
            shutil.copytree(copy_from, path, dirs_exist_ok=True, symlinks=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def kept(results: Path) -> dict[Path, bytes]:
    """What the tracker keeps, but logs and the lock (its text names the last holder)."""
    return {p: p.read_bytes() for p in results.rglob("*")
            if p.is_file() and "logs" not in p.parts and p.name != ".tracker.lock"}


def one_line(err: str, pattern: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.fullmatch(pattern + "\n", err), err


def test_a_file_where_the_results_dir_is_expected_is_one_line(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05)])
    t = tracker(tmp_path, repo, site_assets)
    t.results.parent.mkdir(parents=True, exist_ok=True)
    t.results.write_text("not a directory\n")
    for command in (["run", *LINEAR], ["nightly"], ["publish"]):
        assert t(*command) == 74
        one_line(capsys.readouterr().err, re.escape(f"zkml-tracker: {t.results}: File exists (a file is where a "
                                                    f"directory is expected)"))
    t.results.unlink()

    # a record's directory taken by a file: the run stops there with one line, nothing half-written
    assert t("run", *LINEAR, "--no-publish") == 0
    new = add_commit(repo, Step(delay=0.05))
    before = kept(t.results)
    (t.results / "synth" / "records" / new).write_text("in the way\n")
    capsys.readouterr()
    assert t("nightly", "-m", "linear") == 74
    one_line(capsys.readouterr().err, re.escape(f"zkml-tracker: {t.results / 'synth' / 'records' / new}/"
                                                f"linear--default.json: Not a directory (a file is where a "
                                                f"directory is expected)"))
    after = kept(t.results)
    assert all(after[p] == data for p, data in before.items() if p.name not in ("status.json", "revisions.json"))
    assert_no_torn_json(t.results)
    assert read_json(t.results / "synth" / "revisions.json")["revisions"].keys() >= {shas[0]}


def test_a_read_only_results_dir_is_one_line_and_reading_still_works(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR) == 0
    add_commit(repo, Step(delay=0.05))
    before = kept(t.results)
    if os.geteuid() != 0:
        for path in [t.results, *t.results.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        context, reason = nullcontext(), "Permission denied"
    else:  # root writes through chmod: a read-only file system is the real thing
        saved = tmp_path / "saved"
        shutil.copytree(t.results, saved, symlinks=True)
        context, reason = read_only(t.results, saved), "Read-only file system"
    with context:
        capsys.readouterr()
        for command in (["nightly", "-m", "linear"], ["run", *LINEAR], ["publish"]):
            assert t(*command) == 74
            one_line(capsys.readouterr().err, re.escape(f"zkml-tracker: {t.results / '.tracker.lock'}: {reason}"))
        assert t("list") == 0
        assert "Traceback" not in capsys.readouterr().err
        assert kept(t.results) == before


@contextmanager
def read_only(path: Path, content: Path):
    with tmpfs(path, "64m", content):
        remount = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        yield path


def test_a_full_disk_is_one_line_and_loses_nothing(tmp_path, capsys, site_assets):
    if os.geteuid() != 0:
        pytest.skip("a full file system needs a tmpfs mount, which needs root")
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR, "--no-publish") == 0
    add_commit(repo, Step(delay=0.05))
    saved = tmp_path / "saved"
    shutil.copytree(t.results, saved, symlinks=True)
    with tmpfs(t.results, "16m", saved):
        before = kept(t.results)
        fd = os.open(t.results / "filler", os.O_WRONLY | os.O_CREAT)  # the disk full to the last block
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        capsys.readouterr()
        assert t("nightly", "-m", "linear", "--no-publish") == 74
        one_line(capsys.readouterr().err, re.escape(f"zkml-tracker: {t.results}") + r"/\S+: No space left on device")
        after = kept(t.results)
        assert all(after[p] == data for p, data in before.items())
        assert_no_torn_json(t.results)
        (t.results / "filler").unlink()
        assert t("nightly", "-m", "linear", "--no-publish") in (0, 3)
        assert "1 new revision(s) run" in capsys.readouterr().out


def test_a_failing_asv_publish_says_its_error_and_keeps_the_previous_site(tmp_path, capsys, site_assets):
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05) for _ in range(2)])
    t = tracker(tmp_path, repo, site_assets)
    assert t("run", *LINEAR) == 0
    before = tree(t.html / "synth")
    # asv's list of benchmarks in a format asv does not read: valid JSON, so it is not set aside as torn
    bad = t.results / "synth" / "asv" / "benchmarks.json"
    good = bad.read_bytes()
    bad.write_text(json.dumps({"version": 99}))
    capsys.readouterr()
    assert t("publish") == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("synth: asv publish failed: "))
    log = t.results / "synth" / "logs" / "asv-publish.log"
    last = [x for x in log.read_text().splitlines() if x.strip()][-1].strip()
    assert line.endswith(f": {last} (log: {log}); the previous site is kept"), line
    assert tree(t.html / "synth") == before and not (t.html / ".synth.publishing").exists()
    bad.write_bytes(good)
    assert t("publish") == 0
