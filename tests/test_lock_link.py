"""results/.tracker.lock is never followed: a link put there (symbolic or hard) leaves what it points to as
it was.

Real commands (`publish`, `run`) on a real results dir; the links, files and FIFO are real.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.synthetic import Step, config_text, make_repo
from tracker.cli import EXIT_OS_ERROR, main

PRECIOUS = b"someone else's file: not a lock\n\x00\xff"


@pytest.fixture
def tracker(tmp_path):
    repo = tmp_path / "upstream"
    make_repo(repo, [Step(subject="commit 0")])
    (tmp_path / "frameworks.yaml").write_text(config_text(repo))
    (tmp_path / "asv.conf.json").write_text((Path(__file__).parents[1] / "asv.conf.json").read_text())
    (tmp_path / "results").mkdir()
    return tmp_path


def _command(root: Path, *argv: str) -> int:
    return main(["--config", str(root / "frameworks.yaml"), "--cache", str(root / "cache"), *argv])


@pytest.mark.parametrize("command", [["publish"], ["run", "--no-publish", "-m", "linear"]])
def test_a_lock_that_is_a_link_to_another_file_is_refused_and_the_file_is_untouched(tracker, capsys, command):
    other = tracker / "precious.bin"
    other.write_bytes(PRECIOUS)
    os.chmod(other, 0o644)
    lock = tracker / "results" / ".tracker.lock"
    lock.symlink_to(other)
    assert _command(tracker, *command) == EXIT_OS_ERROR
    err = capsys.readouterr().err
    assert err.splitlines() == [f"zkml-tracker: {lock}: a symbolic link (to {other}), not the tracker's lock file: "
                                f"not followed; remove it"]
    assert other.read_bytes() == PRECIOUS
    assert lock.is_symlink() and os.readlink(lock) == str(other)
    assert not (tracker / "results" / "synth").exists()  # nothing was run


def test_a_dangling_link_makes_no_file_where_it_points(tracker, capsys):
    target = tracker / "elsewhere" / "made-through-the-link"
    target.parent.mkdir()
    (tracker / "results" / ".tracker.lock").symlink_to(target)
    assert _command(tracker, "publish") == EXIT_OS_ERROR
    assert "a symbolic link (to" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.parametrize("command", [["publish"], ["run", "--no-publish", "-m", "linear"]])
def test_a_lock_that_is_a_hard_link_to_another_file_is_refused_and_the_file_is_untouched(tracker, capsys, command):
    """A hard link is a second name for the other file: truncating the lock would empty that file."""
    other = tracker / "precious.bin"
    other.write_bytes(PRECIOUS)
    lock = tracker / "results" / ".tracker.lock"
    os.link(other, lock)
    assert _command(tracker, *command) == EXIT_OS_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"zkml-tracker: {lock}: a hard link (2 names for one file), not the tracker's lock file: not written; "
        f"remove it"]
    assert other.read_bytes() == PRECIOUS
    assert not (tracker / "results" / "synth").exists()


def test_a_fifo_as_the_lock_is_refused_without_waiting(tracker, capsys):
    os.mkfifo(tracker / "results" / ".tracker.lock")
    assert _command(tracker, "publish") == EXIT_OS_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"zkml-tracker: {tracker / 'results' / '.tracker.lock'}: not a regular file, so not the tracker's lock "
        f"file; remove it"]


def test_with_the_link_removed_the_command_runs_and_the_lock_is_a_file(tracker, capsys):
    lock = tracker / "results" / ".tracker.lock"
    lock.symlink_to(tracker / "precious.bin")
    assert _command(tracker, "publish") == EXIT_OS_ERROR
    lock.unlink()
    assert _command(tracker, "publish") == 0
    assert lock.is_file() and not lock.is_symlink()
    assert lock.read_text().endswith(" publish")
