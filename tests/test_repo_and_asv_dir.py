"""Two small faults provoked for real: asv's results dir on a read-only file system (the reason on the line the
user sees, before any work), and a local `repo:` that is not a git repository (`list` says so; `run` fails it
as data with that reason).
"""
from __future__ import annotations

import os
import re
import shutil
from contextlib import nullcontext

import pytest

from tests.synthetic import Step, add_commit, config_text, make_repo
from tests.test_faults_state import one_line, read_only
from tests.test_reliability import Tracker
from tracker.fsutil import read_json
from tracker.history.git import GitError, git

LINEAR = ["-m", "linear", "--repeats", "1", "--no-publish"]


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")


def test_a_read_only_asv_results_dir_is_one_line_with_the_systems_reason_before_any_proof(tmp_path, capsys):
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05)])
    t = Tracker(tmp_path / "t", config_text(repo))
    assert t("run", *LINEAR) == 0
    new = add_commit(repo, Step(delay=0.05))
    asv_dir = t.results / "synth" / "asv"
    if os.geteuid() != 0:  # root writes through chmod: a read-only file system is the real thing
        for path in [asv_dir, *asv_dir.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        context, reason = nullcontext(), "Permission denied"
    else:
        saved = tmp_path / "saved-asv"
        shutil.copytree(asv_dir, saved, symlinks=True)
        context, reason = read_only(asv_dir, saved), "Read-only file system"
    with context:
        capsys.readouterr()
        assert t("run", *LINEAR) == 74
        one_line(capsys.readouterr().err, re.escape(f"zkml-tracker: {asv_dir / 'test-machine'}: {reason}"))
        assert not (t.results / "synth" / "records" / new).exists()  # stopped before building or proving
        assert "build" not in (read_json(t.results / "synth" / "status.json") or {}).get("reason", "")


GIT_SAYS = {"a plain directory": "'{repo}' does not appear to be a git repository",
            "a subdirectory of a clone": "'{repo}' does not appear to be a git repository",
            "a file": "invalid gitfile format: {repo}"}


@pytest.mark.parametrize("what", ["a plain directory", "a subdirectory of a clone", "a file", "nothing"])
def test_a_local_repo_that_is_not_a_git_repository_is_not_ready_and_run_fails_it(tmp_path, capsys, what):
    clone = tmp_path / "clone"
    make_repo(clone, [Step()])
    repo = {"a plain directory": tmp_path / "plain", "a subdirectory of a clone": clone / "sub",
            "a file": tmp_path / "file", "nothing": tmp_path / "missing"}[what]
    if what == "a file":
        repo.write_text("not a repository\n")
    elif what != "nothing":
        repo.mkdir()
        (repo / "prover.py").write_text("print('hi')\n")
    t = Tracker(tmp_path / "t", config_text(repo))
    assert t("list") == 0
    out = capsys.readouterr().out.splitlines()
    why = (f"repo: {repo} does not exist (and no mirror of it is cached): give 'repo:' a git clone"
           if what == "nothing" else f"repo: {repo} is not a git repository (")
    assert out[0].startswith("synth ") and out[0].endswith(" failed")
    assert out[1].strip().startswith(why) and out[1].strip().endswith("give 'repo:' a git clone")
    if what != "nothing":  # git's own reason, not its closing advice ("... and the repository exists.")
        assert out[1].strip() == f"{why}fatal: {GIT_SAYS[what].format(repo=repo)}): give 'repo:' a git clone"
    assert t("run", *LINEAR) == 1
    said = capsys.readouterr().out
    assert re.search(rf"^synth: failed: {re.escape(why)}", said, re.M)
    status = read_json(t.results / "synth" / "status.json")
    assert status["status"] == "failed" and status["reason"].startswith(why)
    assert "summary:" in said and re.search(r"^  synth\s+failed: repo: ", said, re.M)


def test_a_git_repository_given_by_path_is_ready(tmp_path, capsys):
    repo = tmp_path / "clone"
    make_repo(repo, [Step()])
    t = Tracker(tmp_path / "t", config_text(repo))
    assert t("list") == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(" ready")


def test_git_says_why_a_remote_failed_not_its_closing_advice(tmp_path):
    """git closes a failed remote with "Please make sure ... and the repository exists.": the reason it gives
    is the line before (ssh's own words where ssh failed), so that is the one a user is shown."""
    with pytest.raises(GitError) as refused:
        git("ls-remote", "ssh://127.0.0.1:9/r.git", timeout=30)  # nothing listens on port 9
    assert str(refused.value) in ("ssh: connect to host 127.0.0.1 port 9: Connection refused",
                                  "error: cannot run ssh: No such file or directory")
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match=r"^fatal: '.*plain' does not appear to be a git repository$"):
        git("ls-remote", str(tmp_path / "plain"), timeout=30)
