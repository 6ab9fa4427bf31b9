"""Run a shell command N times and report each run's wall and CPU time to a JSON file.

Used by the `command` adapter for tools that cannot be timed from the inside: the samples include the
tool's own start-up, and the adapter labels them so. Standard library only: it runs under any Python.
"""
import json
import resource
import subprocess
import sys
import time


def main(result_file: str, repeats: str, command: str) -> int:
    samples, cpu = [], []
    for _ in range(int(repeats)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = subprocess.call(["bash", "-c", command])
        samples.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if code != 0:
            print(f"command exited with status {code}", file=sys.stderr)
            return code if code > 0 else 1
    with open(result_file, "w") as f:
        json.dump({"samples": samples, "cpu": cpu, "data": {}}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
