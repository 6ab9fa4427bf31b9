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
groups and of every descendant seen (pid and start time), and kills them when the tracker's end of its pipe
closes, which the kernel does however the tracker dies. A descendant that leaves the group (`setsid`) is
still found: while a child runs the tracker is a child subreaper, so an orphan of the tree becomes the
tracker's own child instead of init's, and the poller remembers each descendant with its start time (pids
are reused within minutes here: a remembered pid is only killed while it still names the process meant).
SIGTERM to the tracker while a child runs unwinds through the same kill (`Stopped`, exit status 143).

A child's output goes to its log file as it comes; with `Limits.log_mb` set it goes through a pipe that
keeps the first and the last halves of the cap and says how much was cut in between (never more than a
read's worth in memory).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import psutil

from tracker.capped_log import CappedLog
from tracker.records import Status

# The tree's RSS is sampled often at first (short stages, early spikes), then every 100 ms: one sample
# walks /proc (about 0.8 ms of CPU with 70 processes), and sampling every 20 ms throughout made ezkl's
# prove 4.4 % slower on 2 cores (median of 20 proofs, 5.09 s against 4.88 s unwatched; 4.88 s at 100 ms).
POLL_FIRST_S, POLL_EVERY_S = 0.01, 0.1
TERM_GRACE_S = 2.0
PUMP_GRACE_S = 5.0  # how long the end of a capped log waits for a pipe held open by something that escaped
PIPE_BYTES = 1 << 20  # a wide pipe for a capped log: fewer wake-ups of its thread for a chatty child
PR_SET_CHILD_SUBREAPER = 36
LAUNCHER = str(Path(__file__).with_name("launcher.py"))  # starts each measured command: see its docstring


@dataclass(frozen=True)
class Limits:
    """What a child may use before it is killed: wall seconds and, optionally, tree RSS in MiB; and how
    much of its output the log keeps (`log_mb`: the first and the last halves; None keeps all of it)."""

    timeout_s: float = 1800.0
    memory_mb: int | None = None
    log_mb: float | None = None


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


class Stopped(SystemExit):
    """The tracker got SIGTERM while a child ran: the child's tree is killed and the tracker exits 143."""


# signals a child does not send itself: another user's kill, the kernel's OOM killer, a stop or a hang-up
OUTSIDE_SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def killed_from_outside(exc: ChildFailed) -> bool:
    """Killed by a signal it did not send itself, or a shell that says so of its command (status 128+N)."""
    code = exc.measurement.returncode if exc.measurement else 0
    if isinstance(exc, ChildCrashed):
        return -code in OUTSIDE_SIGNALS
    return isinstance(exc, ChildError) and code - 128 in OUTSIDE_SIGNALS


def no_verdict(exc: ChildFailed) -> bool:
    """A limit stopped the child, or a signal from outside did: what it ran may well be fine (a build of such
    a commit is tried again, never cached as a failure)."""
    return isinstance(exc, (ChildTimeout, ChildOutOfMemory)) or killed_from_outside(exc)


def _raise_stopped(signum: int, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut short the kill of the tree
    raise Stopped(128 + signum)


@dataclass
class _Watch:
    """State shared between the waiting thread and the polling thread."""

    root: psutil.Process | None
    limits: Limits
    started: float
    born: float  # the root's start time: a child of the tracker started since is an orphan of this tree
    peak_rss: int = 0
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    verdict: Status | None = None  # TIMEOUT or OUT_OF_MEMORY once we decided to kill
    done: threading.Event = field(default_factory=threading.Event)


REAPER = """\
import os, signal, sys
import psutil
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = {}
for line in sys.stdin:
    op, *words = line[0], *line[1:].split()
    pgid = int(words[0])
    if op == "+":
        groups[pgid] = []
    elif op == "-":
        groups.pop(pgid, None)
    elif pgid in groups:
        groups[pgid].append((int(words[1]), float(words[2])))
for pgid, members in groups.items():
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    for pid, born in members:
        try:
            p = psutil.Process(pid)
            if abs(p.create_time() - born) < 0.01:
                p.kill()
        except psutil.Error:
            pass
"""
_reaper: tuple[int, subprocess.Popen] | None = None  # (owner pid, reaper)
_reaper_lock = threading.Lock()


def _tell_reaper(op: str, pgid: int, member: str = "") -> None:
    """Add (+) or drop (-) a process group the reaper kills if this process dies first, or add a descendant
    (=, `member` is "pid start-time") it kills with the group if its pid still names it. Best effort."""
    global _reaper
    with _reaper_lock:
        try:
            if _reaper is None or _reaper[0] != os.getpid() or _reaper[1].poll() is not None:
                if op == "-":
                    return
                _reaper = (os.getpid(), subprocess.Popen(
                    [sys.executable, "-c", REAPER], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True, text=True))
            _reaper[1].stdin.write(f"{op}{pgid} {member}\n")
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

    The child's stdout and stderr are appended to `log_path` (capped by `limits.log_mb`). Results the
    child wants to hand back go through a file the caller chose (never parsed from stdout).
    """
    argv = [os.fspath(c) for c in cmd]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log, _stopped_by_sigterm(), _adopting_orphans():
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        sink = CappedLog(log_path, limits.log_mb) if limits.log_mb else None
        started = time.perf_counter()
        report, report_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", LAUNCHER, str(report_w), *argv], cwd=cwd,
                env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if sink else log, stderr=subprocess.STDOUT, start_new_session=True,
                pass_fds=(report_w,),
            )
        except OSError as exc:
            os.close(report)
            if sink is not None:
                sink.close()
            raise ChildError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        finally:
            os.close(report_w)
        pump = _start_pump(proc, sink)
        _tell_reaper("+", proc.pid)
        watch = _Watch(root=_process(proc.pid), limits=limits, started=started, born=_born(proc.pid))
        poller = threading.Thread(target=_poll, args=(watch, proc.pid), daemon=True)
        poller.start()
        try:
            status, cpu_s, _ = _wait(proc.pid)  # the launcher's own peak RSS carries the tracker's: not used
        except BaseException:
            _end(proc.pid, watch, poller, pump)
            os.close(report)
            raise
        wall = time.perf_counter() - started
        _end(proc.pid, watch, poller, pump)  # grandchildren left behind must not outlive the stage
        proc.returncode = status
        ran = _launcher_report(report, argv)
    if ran is not None:  # what the command alone cost, from the launcher
        status, cpu_s, maxrss, wall = ran
    else:                # the launcher was killed with the tree (a limit, a signal): the tree's figures
        maxrss = 0
    measurement = Measurement(wall, cpu_s, max(watch.peak_rss, maxrss), status)
    _raise_for(measurement, watch, argv, log_path)
    return measurement


def _launcher_report(fd: int, argv: list[str]) -> tuple[int, float, int, float] | None:
    """(status as subprocess spells it, CPU s, peak RSS bytes, wall s) of the command, from the launcher's
    line; None when it wrote none (killed first). Raises `ChildError` when the command could not start."""
    with os.fdopen(fd, "rb") as pipe:
        line = pipe.read(4096).decode(errors="replace").strip()
    kind, _, rest = line.partition(" ")
    if kind == "nostart":
        raise ChildError(f"cannot start {argv[0]}: {rest.partition(' ')[2]}")
    try:
        raw, cpu, maxrss_kb, wall = rest.split()
        return _returncode(int(raw)), float(cpu), int(maxrss_kb) * 1024, float(wall)
    except ValueError:
        return None


def _end(pid: int, watch: _Watch, poller: threading.Thread, pump: threading.Thread | None) -> None:
    """The child is gone or given up on: stop polling, kill what is left of its tree, finish its log."""
    watch.done.set()
    poller.join()
    _kill_tree(pid, watch)
    _tell_reaper("-", pid)
    if pump is not None:
        pump.join(PUMP_GRACE_S)


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """While a child runs, SIGTERM to the tracker raises `Stopped` (its tree is killed on the way out)
    instead of ending the process where it stands, which would leave the tree's other sessions running.
    Only from the main thread, and only where nobody else chose what SIGTERM does."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # also after a first SIGTERM set it to be ignored


_adopters = 0
_adopters_lock = threading.Lock()


@contextmanager
def _adopting_orphans() -> Iterator[None]:
    """The tracker is a child subreaper while any child runs: a descendant whose parent exits (`setsid cmd &`
    from a shell that ends, a daemon's double fork) becomes the tracker's child, where the poller finds it."""
    global _adopters
    with _adopters_lock:
        _adopters += 1
        if _adopters == 1:
            _set_subreaper(1)
    try:
        yield
    finally:
        with _adopters_lock:
            _adopters -= 1
            if _adopters == 0:
                _set_subreaper(0)


def _set_subreaper(on: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: orphans go to init, the poller sees those it caught first
        pass


def _born(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return time.time() - 1.0


def _start_pump(proc: subprocess.Popen, sink: CappedLog | None) -> threading.Thread | None:
    """With a cap, a thread carries the child's pipe into the log until every writer has closed it."""
    if sink is None:
        return None
    pipe = proc.stdout
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, AttributeError):
        pass

    def carry() -> None:
        try:
            sink.carry(pipe.fileno())
        finally:
            pipe.close()
            sink.close()

    thread = threading.Thread(target=carry, daemon=True)
    thread.start()
    return thread


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
    return _returncode(raw), usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def _returncode(raw: int) -> int:
    """A wait status as subprocess spells it: the exit status, or minus the signal that ended the child."""
    return -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def _poll(watch: _Watch, pid: int) -> None:
    """Sample the tree's RSS until the child is gone; enforce the deadline and the memory cap."""
    cap = watch.limits.memory_mb * 1024 * 1024 if watch.limits.memory_mb else None
    interval = POLL_FIRST_S
    while not watch.done.wait(interval):
        interval = min(POLL_EVERY_S, interval * 1.5)
        rss = _tree_rss(watch, pid)
        watch.peak_rss = max(watch.peak_rss, rss)
        if cap is not None and rss > cap:
            watch.verdict = Status.OUT_OF_MEMORY
        elif time.perf_counter() - watch.started > watch.limits.timeout_s:
            watch.verdict = Status.TIMEOUT
        if watch.verdict:
            _kill_tree(pid, watch)
            return


def _tree_rss(watch: _Watch, pid: int) -> int:
    """The resident memory of the tree below the launcher (the launcher, a few MB, is the tracker's)."""
    total = 0
    for p in _scan(watch, pid):
        if p.pid == pid:
            continue
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _scan(watch: _Watch, pid: int) -> list[psutil.Process]:
    """Every live process of the tree, from one pass over the process table: the descendants of the child,
    of the orphans the tracker adopted since it started, and of every process seen before that still is the
    process seen (pids are reused). Each new one is remembered with its start time (psutil checks it before
    a signal, so a reused pid is never killed) and told to the reaper."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    adopted = [c for c in children.get(os.getpid(), ()) if c not in (pid, _reaper_pid()) and
               _born_since(c, watch.born)]
    tops = [pid, *(p for p, proc in watch.seen.items() if _same(proc)), *adopted]
    found: dict[int, psutil.Process] = {}
    while tops:
        current = tops.pop()
        if current in found:
            continue
        proc = _known(watch, current, pid)
        if proc is not None:
            found[current] = proc
            tops += children.get(current, ())
    return list(found.values())


def _known(watch: _Watch, pid: int, root: int) -> psutil.Process | None:
    """The remembered process of `pid`, or a new one remembered (and told to the reaper) now."""
    if pid == root:  # once waited for, its pid may name another process
        return watch.root if watch.root is not None and _same(watch.root) else None
    proc = watch.seen.get(pid)
    if proc is not None and _same(proc):
        return proc
    try:
        proc = psutil.Process(pid)
        born = proc.create_time()
    except psutil.Error:
        return None
    watch.seen[pid] = proc
    _tell_reaper("=", root, f"{pid} {born:.6f}")
    return proc


def _same(proc: psutil.Process) -> bool:
    """The pid still names the process first seen under it (psutil compares the start time)."""
    try:
        return proc.is_running()
    except psutil.Error:
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, in one pass over /proc (psutil's children() makes that pass for
    every process it is asked about); psutil's process table where there is no /proc."""
    if not os.path.isdir("/proc/self"):
        return {p.pid: p.info["ppid"] for p in psutil.process_iter(["ppid"])}
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    out[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return out


def _born_since(pid: int, born: float) -> bool:
    try:
        return psutil.Process(pid).create_time() >= born
    except psutil.Error:
        return False


def _reaper_pid() -> int | None:
    return _reaper[1].pid if _reaper is not None else None


def _kill_tree(pid: int, watch: _Watch) -> None:
    """SIGTERM the group and every descendant found, give them a moment, then SIGKILL the group and every
    descendant ever seen; orphans the tracker adopted are reaped (they are its children now)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    live = [p for p in _scan(watch, pid) if p.pid != pid]
    _signal_all(live, signal.SIGTERM)
    if live:
        psutil.wait_procs(live, timeout=TERM_GRACE_S)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(3):  # what was forked meanwhile is found by the next scan
        rest = [p for p in [*watch.seen.values(), *_scan(watch, pid)] if p.pid != pid and _alive(p)]
        if not rest:
            break
        _signal_all(rest, signal.SIGKILL)
        psutil.wait_procs(rest, timeout=TERM_GRACE_S)
    _reap_adopted(watch, pid)


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def _reap_adopted(watch: _Watch, pid: int) -> None:
    """Collect the exit status of adopted orphans, so none is left a zombie of the tracker."""
    me = os.getpid()
    for p in watch.seen.values():
        try:
            if p.pid != pid and p.ppid() == me:
                os.waitpid(p.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
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
