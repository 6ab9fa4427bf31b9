"""Run a shell command N times and report each run's wall time, CPU time and peak memory to a JSON file.

Used by the `command` adapter for tools that cannot be timed from the inside: the samples include the
tool's own start-up, and the adapter labels them so. Each run is a process of its own, so its peak
resident memory is its own (the largest of the command's processes, from wait4). Standard library only:
it runs under any Python.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import time


def main(result_file: str, repeats: str, command: str) -> int:
    samples, cpu, peaks = [], [], []
    for _ in range(int(repeats)):
        start = time.perf_counter()
        child = subprocess.Popen(["bash", "-c", command])
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        samples.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss * 1024)  # kilobytes on Linux
        code = child.returncode
        if code < 0:  # killed by a signal: die of the same one, so the tracker records a crash by its name
            die_of(-code)
        if code != 0:
            print(f"command exited with status {code}", file=sys.stderr)
            return code
    with open(result_file, "w") as f:
        json.dump({"samples": samples, "cpu": cpu, "peak_rss": peaks, "data": {}}, f)
    return 0


def die_of(signum: int) -> None:
    print(f"command killed by signal {signal.Signals(signum).name}", file=sys.stderr)
    sys.stderr.flush()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file of ours in the work dir
    if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
