"""One lock for every command that writes results or the site: `run`, `nightly`, `publish`, `bisect`,
`compare` and `regressions --confirm`.

Two of them at once would interleave asv's writes into the same results and html dirs (two `asv publish`
into one html dir fail inside asv, each with its error in a log both write into). So a second command
does not wait: it exits at once with status 75 (EX_TEMPFAIL, "try again later", which cron and CI
schedulers understand) and one line naming the holder. Not waiting means a stuck holder cannot pile up
a queue of waiting nightlies behind it.

The lock is `flock` on `results/.tracker.lock`: the kernel drops it when the holder dies however it dies
(SIGKILL included), so it never goes stale, and the file's text (pid and command) is only a hint for
people. Reading commands (`list`, `regressions`, `preview`) take no lock.

The lock file is opened with O_NOFOLLOW and must be a regular file: a symbolic link put there (by mistake
or by another user) is never followed, so the pid line can never be written into the file it points to;
the command stops at once with one line naming the link and where it leads, exit 74 as for any file the
tracker cannot use. A hard link is refused the same way (a file with another name elsewhere): truncating
it would write the pid line into that other file too.
"""
from __future__ import annotations

import errno
import fcntl
import functools
import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

EXIT_LOCKED = 75
LOCK_NAME = ".tracker.lock"
_HELD: set[Path] = set()  # the results dirs whose lock this process holds now


class Locked(Exception):
    """Another tracker command holds the lock; the message names it."""


def lock_path(results: Path) -> Path:
    return results / LOCK_NAME


@contextmanager
def exclusive(results: Path, command: str) -> Iterator[Path]:
    """Hold the results dir's lock for the block, or raise `Locked` at once."""
    results.mkdir(parents=True, exist_ok=True)
    path = lock_path(results)
    fd = open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(f"another zkml-tracker ({holder(fd)}) holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {command}".encode())
        _HELD.add(results.resolve())
        try:
            yield path
        finally:
            _HELD.discard(results.resolve())
    finally:
        os.close(fd)


def open_lock_file(path: Path) -> int:
    """The lock file, opened read-write (made if missing) without following a link; OSError naming it if it
    is a link or not a regular file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise OSError(errno.ELOOP, f"a symbolic link (to {os.readlink(path)}), not the tracker's lock file: not "
                                   f"followed; remove it", str(path)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file, so not the tracker's lock file; remove it", str(path))
    if info.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EMLINK, f"a hard link ({info.st_nlink} names for one file), not the tracker's lock "
                                    f"file: not written; remove it", str(path))
    return fd


def held(results: Path) -> bool:
    """Whether this process holds the results dir's lock: only then may a reader's repair be written (a
    reader that takes no lock only says what it found and rebuilds it in memory)."""
    return results.resolve() in _HELD


def holder(fd: int) -> str:
    """'nightly, pid 123' from the lock file's text, as far as it says."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if len(text) >= 2 and text[0].isdigit():
        return f"{text[1]}, pid {text[0]}"
    return f"pid {text[0]}" if text else "a command starting"


def holding_lock(command: str) -> Callable:
    """Wrap a command's `main(config, layout, args)` so it runs under the lock, or says who has it."""
    def wrap(main: Callable) -> Callable:
        @functools.wraps(main)
        def locked(config, layout, args) -> int:
            try:
                with exclusive(layout.results, command):
                    return main(config, layout, args)
            except Locked as exc:
                print(f"zkml-tracker: {command} not started: {exc}; try again when it ends", file=sys.stderr)
                return EXIT_LOCKED
        return locked
    return wrap
