"""Run one child process and measure it: the only place the tracker starts a child.

Every build step and every prover stage goes through `run_measured`, so every child gets the same
treatment: its own process group (so the whole tree can be killed), a wall-clock deadline, an optional
memory cap on the resident memory of the whole tree, a log file for its output, and a `Measurement`
(wall time, CPU time of the tree, peak RSS of the tree). Failures are typed exceptions that carry the
measurement and the tail of the log, so callers can record *why* a stage failed and carry on.
A short child whose output the caller reads (a git command, a tool's version) goes through `captured` or
`output_of` instead: the same own group, deadline and reaper, its output kept in memory, nothing measured.

Each child runs in its own process group, so a SIGKILL of the tracker's group would not reach it: a
small reaper process, started once per tracker process in a session of its own, holds the list of live
groups and kills them when the tracker's end of its pipe closes, which the kernel does however the
tracker dies.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import psutil

from tracker.records import Status

# The tree's RSS is sampled often at first (short stages, early spikes), then every 100 ms: one sample
# walks /proc (about 0.8 ms of CPU with 70 processes), and sampling every 20 ms throughout made ezkl's
# prove 4.4 % slower on 2 cores (median of 20 proofs, 5.09 s against 4.88 s unwatched; 4.88 s at 100 ms).
POLL_FIRST_S, POLL_EVERY_S = 0.01, 0.1
TERM_GRACE_S = 2.0


@dataclass(frozen=True)
class Limits:
    """What a child may use before it is killed: wall seconds and, optionally, tree RSS in MiB."""

    timeout_s: float = 1800.0
    memory_mb: int | None = None


@dataclass(frozen=True)
class Measurement:
    """What one child cost. CPU is user+system of the child and every descendant it waited for."""

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int


class ChildFailed(Exception):
    """A child did not finish cleanly. `reason` is one short line fit for a results file."""

    kind = Status.ERROR

    def __init__(self, reason: str, measurement: Measurement | None = None, log_tail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.measurement = measurement
        self.log_tail = log_tail


class ChildError(ChildFailed):
    """The child exited with a non-zero status."""

    kind = Status.ERROR


class ChildCrashed(ChildFailed):
    """The child was killed by a signal it did not get from us (segfault, abort, kill -9 from outside)."""

    kind = Status.CRASHED


class ChildTimeout(ChildFailed):
    """The child ran past its wall-clock limit; the whole tree was killed."""

    kind = Status.TIMEOUT


class ChildOutOfMemory(ChildFailed):
    """The tree's resident memory went over the cap; the whole tree was killed."""

    kind = Status.OUT_OF_MEMORY


@dataclass
class _Watch:
    """State shared between the waiting thread and the polling thread."""

    root: psutil.Process | None
    limits: Limits
    started: float
    peak_rss: int = 0
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    verdict: Status | None = None  # TIMEOUT or OUT_OF_MEMORY once we decided to kill
    done: threading.Event = field(default_factory=threading.Event)


REAPER = """\
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    op, pgid = line[0], int(line[1:])
    (groups.add if op == "+" else groups.discard)(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""
_reaper: tuple[int, subprocess.Popen] | None = None  # (owner pid, reaper)
_reaper_lock = threading.Lock()


def _tell_reaper(op: str, pgid: int) -> None:
    """Add (+) or drop (-) a process group the reaper kills if this process dies first. Best effort."""
    global _reaper
    with _reaper_lock:
        try:
            if _reaper is None or _reaper[0] != os.getpid() or _reaper[1].poll() is not None:
                if op == "-":
                    return
                _reaper = (os.getpid(), subprocess.Popen(
                    [sys.executable, "-c", REAPER], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True, text=True))
            _reaper[1].stdin.write(f"{op}{pgid}\n")
            _reaper[1].stdin.flush()
        except (OSError, ValueError):
            pass


def run_measured(
    cmd: Sequence[str | os.PathLike],
    *,
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    limits: Limits = Limits(),
) -> Measurement:
    """Run `cmd` to completion and measure it; raise a `ChildFailed` subclass if it does not succeed.

    The child's stdout and stderr are appended to `log_path`. Results the child wants to hand back go
    through a file the caller chose (never parsed from stdout).
    """
    argv = [os.fspath(c) for c in cmd]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            raise ChildError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        _tell_reaper("+", proc.pid)
        watch = _Watch(root=_process(proc.pid), limits=limits, started=started)
        poller = threading.Thread(target=_poll, args=(watch, proc.pid), daemon=True)
        poller.start()
        try:
            status, cpu_s, maxrss = _wait(proc.pid)
        except BaseException:
            _kill_tree(proc.pid, watch)
            _tell_reaper("-", proc.pid)
            raise
        finally:
            watch.done.set()
            poller.join()
        wall = time.perf_counter() - started
        _kill_tree(proc.pid, watch)  # grandchildren left behind must not outlive the stage
        _tell_reaper("-", proc.pid)
        proc.returncode = status
    measurement = Measurement(wall, cpu_s, max(watch.peak_rss, maxrss), status)
    _raise_for(measurement, watch, argv, log_path)
    return measurement


def output_of(argv: Sequence[str], timeout_s: float = 30) -> str:
    """What a short query (a tool's version, a list of toolchains) prints on stdout, whatever its exit
    status; "" when it cannot start or does not finish in `timeout_s`."""
    try:
        return _captured(argv, None, None, None, timeout_s)[1].decode(errors="replace")
    except ChildFailed:
        return ""


def captured(argv: Sequence[str | os.PathLike], *, stdin: str | None = None, env: Mapping[str, str] | None = None,
             cwd: Path | None = None, timeout_s: float = 30, binary: bool = False) -> str | bytes:
    """The stdout of a short child that must succeed (a git command), as text or as bytes.

    Not measured; like every child it has its own process group, killed whole at the deadline. Raises
    `ChildTimeout` past `timeout_s`, `ChildError` if it cannot start or exits non-zero: the reason is the
    last line of its stderr (or its exit status where stderr is empty), the whole stderr in `log_tail`."""
    code, out, err = _captured(argv, stdin.encode() if stdin is not None else None, env, cwd, timeout_s)
    if code != 0:
        text = err.decode(errors="replace")
        lines = text.strip().splitlines()
        raise ChildError(lines[-1] if lines else f"{Path(os.fspath(argv[0])).name} exited with status {code}",
                         log_tail=text)
    return out if binary else out.decode(errors="replace")


def _captured(argv: Sequence[str | os.PathLike], stdin: bytes | None, env: Mapping[str, str] | None,
              cwd: Path | None, timeout_s: float) -> tuple[int, bytes, bytes]:
    """Run a child with its output in memory: (exit status, stdout, stderr). Its group is known to the
    reaper while it runs, and killed once it ends (a helper left behind must not outlive it)."""
    args = [os.fspath(a) for a in argv]
    try:
        proc = subprocess.Popen(args, cwd=cwd, env=dict(env) if env is not None else None,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise ChildError(f"cannot start {args[0]}: {exc.strerror or exc}") from None
    _tell_reaper("+", proc.pid)
    try:
        out, err = proc.communicate(stdin, timeout=timeout_s)
    except BaseException as exc:
        _kill_group(proc.pid)
        _reap(proc)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise ChildTimeout(f"{Path(args[0]).name} timed out after {timeout_s:g} s") from None
        raise
    finally:
        _kill_group(proc.pid)
        _tell_reaper("-", proc.pid)
    return proc.returncode, out, err


def _reap(proc: subprocess.Popen) -> None:
    """Wait for a killed child; its pipes are closed unread if a helper that left its group holds them."""
    try:
        proc.communicate(timeout=TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _wait(pid: int) -> tuple[int, float, int]:
    """Wait for the child; return (returncode as subprocess spells it, CPU seconds, ru_maxrss bytes)."""
    while True:
        try:
            _, raw, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    code = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
    return code, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def _poll(watch: _Watch, pid: int) -> None:
    """Sample the tree's RSS until the child is gone; enforce the deadline and the memory cap."""
    cap = watch.limits.memory_mb * 1024 * 1024 if watch.limits.memory_mb else None
    interval = POLL_FIRST_S
    while not watch.done.wait(interval):
        interval = min(POLL_EVERY_S, interval * 1.5)
        rss = _tree_rss(watch)
        watch.peak_rss = max(watch.peak_rss, rss)
        if cap is not None and rss > cap:
            watch.verdict = Status.OUT_OF_MEMORY
        elif time.perf_counter() - watch.started > watch.limits.timeout_s:
            watch.verdict = Status.TIMEOUT
        if watch.verdict:
            _kill_tree(pid, watch)
            return


def _tree_rss(watch: _Watch) -> int:
    if watch.root is None:
        return 0
    try:
        procs = [watch.root, *watch.root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        watch.seen.setdefault(p.pid, p)
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _kill_tree(pid: int, watch: _Watch) -> None:
    """SIGTERM the group, give it a moment, then SIGKILL the group and every descendant ever seen."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    live = [p for p in watch.seen.values() if p.pid != pid and _alive(p)]
    if live:
        psutil.wait_procs(live, timeout=TERM_GRACE_S)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in watch.seen.values():
        if p.pid != pid and _alive(p):
            try:
                p.kill()
            except psutil.Error:
                pass


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _raise_for(m: Measurement, watch: _Watch, argv: list[str], log_path: Path) -> None:
    if watch.verdict == Status.TIMEOUT:
        raise ChildTimeout(f"timed out after {watch.limits.timeout_s:g} s (limit)", m, _tail(log_path))
    if watch.verdict == Status.OUT_OF_MEMORY:
        raise ChildOutOfMemory(
            f"out of memory: tree RSS over the {watch.limits.memory_mb} MiB cap", m, _tail(log_path))
    if m.returncode < 0:
        name = signal.Signals(-m.returncode).name if -m.returncode in signal.valid_signals() else "?"
        raise ChildCrashed(f"{Path(argv[0]).name} killed by signal {name}", m, _tail(log_path))
    if m.returncode != 0:
        tail = _tail(log_path)
        last = next((ln for ln in reversed(tail.splitlines()) if ln.strip()), "")
        raise ChildError(f"{Path(argv[0]).name} exited with status {m.returncode}: {last[:300]}", m, tail)


def _tail(log_path: Path, limit: int = 4000) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
