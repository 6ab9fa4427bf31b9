"""The small process between the tracker and every measured child: it starts the command, waits for it,
and writes what the command alone cost to a pipe the tracker reads.

Why it exists: on Linux a process's peak RSS (`ru_maxrss`) carries over an exec. A child started from the
tracker (vfork then exec, as Python's subprocess does) inherits the tracker's own peak, so wait4() reported
613 MB for a 50 MB child of a process that once held 600 MB: every framework's peak memory was floored at
the tracker's, and a memory step below that floor was lost. This launcher is a fresh interpreter of a few
MB; the command it starts inherits only that, and its `ru_maxrss`, CPU time and wall time (read by wait4
here) are the command's.

    python -I -S launcher.py FD COMMAND [ARG...]

One line goes to FD: "ran STATUS CPU_S MAXRSS_KB WALL_S" (STATUS as wait4 gives it), or
"nostart ERRNO MESSAGE" when the command cannot be started. The launcher then exits with the command's
status (128 + N for a signal, as a shell says it; never raising the signal itself, which would dump its core).
Standard library only: it must start fast and import nothing of the tracker.
"""
import os
import signal
import sys
import time


def main() -> None:
    report = int(sys.argv[1])
    os.set_inheritable(report, False)
    argv = sys.argv[2:]
    started = time.perf_counter()
    try:
        # SIGPIPE and SIGXFSZ back to their defaults, as Python's subprocess does (this interpreter ignores them)
        pid = os.posix_spawnp(argv[0], argv, dict(os.environ), setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as exc:
        os.write(report, f"nostart {exc.errno} {exc.strerror or exc}\n".encode())
        sys.exit(127)
    _, status, usage = os.wait4(pid, 0)  # retried by Python itself when a signal interrupts it (PEP 475)
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    os.write(report, f"ran {status} {cpu!r} {usage.ru_maxrss} {wall!r}\n".encode())
    os.close(report)
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
