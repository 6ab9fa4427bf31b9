"""Builds under the recipe's limits, provoked for real: `commands` recipes (small shell and Python scripts)
on a throwaway git repo, built through `ensure_build` as a run builds them.

A build that never ends (timeout), one that allocates past its memory cap, one killed with SIGKILL from
outside, one printing 100 MB, and a tracker stopped by SIGTERM (or killed) while it builds: each time the
whole tree goes, `setsid` grandchildren and orphans included, and only a build that failed by itself is
cached as a verdict on the commit.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.synthetic import Step, make_repo
from tracker.adapters import get_adapter
from tracker.build import build_dir, ensure_build, recipe_hash
from tracker.adapters import load_config
from tracker.config import ConfigError
from tracker.history import open_history
from tracker.records import Status
from tracker.types import BUILD_LIMITS

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
# a process that writes "pid start-time" to the file it is given, then sleeps: a grandchild to look for
SLEEPER = "import os, sys, time, psutil; open(sys.argv[1], 'w').write(f'{os.getpid()} ' + " \
          "repr(psutil.Process().create_time())); time.sleep(600)"


def framework_yaml(name: str, repo: Path, build: str) -> str:
    """A frameworks.yaml of one framework run by the `command` adapter; `build` is the lines of its build
    mapping (the first on line 10), each indented by six spaces."""
    return (f"version: 1\nframeworks:\n  - name: {name}\n    adapter: command\n    proof_system: none\n"
            f"    model_format: ONNX\n    repo: {repo}\n    history: {{kind: commits, branch: main}}\n"
            f"    build:\n{build}\n    stages: {{prove: \"true\"}}\n")


def config_text(repo: Path, script: Path, limits: str = "") -> str:
    return framework_yaml("synth", repo, f'      kind: commands\n      commands: ["bash {script}"]\n'
                                         f'      env: {{PY: "{PY}"}}{limits}')


@pytest.fixture()
def project(tmp_path):
    """A one-commit repo; `setup(script, limits)` writes the build script and the config, returns the build."""
    repo = tmp_path / "repo"
    make_repo(repo, [Step()])
    cache = tmp_path / "cache"

    def setup(script: str, limits: str = ""):
        (tmp_path / "build.sh").write_text(script)
        (tmp_path / "frameworks.yaml").write_text(config_text(repo, tmp_path / "build.sh", limits))
        fw = load_config(tmp_path / "frameworks.yaml").framework("synth")
        history = open_history(fw, cache)
        revision = history.revisions()[-1]
        return lambda: ensure_build(fw, revision, get_adapter("command"), cache, history.checkout_fn(revision)), \
            build_dir(cache, fw, revision)
    return setup


def limits(**values) -> str:
    return "\n      limits: {" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"


def marker(where: Path) -> dict:
    return json.loads((where / "build.json").read_text())


def wait_for(path: Path, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            time.sleep(0.1)  # the writer may not have flushed all of it
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def gone(pidfile: Path) -> bool:
    """The process that wrote `pidfile` no longer runs (a pid reused since names another process)."""
    pid, born = pidfile.read_text().split()
    try:
        p = psutil.Process(int(pid))
        return abs(p.create_time() - float(born)) > 0.01 or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_build_that_never_ends_is_stopped_at_the_timeout_with_its_setsid_grandchild_and_orphan(project, tmp_path):
    build, where = project(f"""
        setsid "$PY" -c "{SLEEPER}" {tmp_path}/grandchild &
        ( setsid "$PY" -c "{SLEEPER}" {tmp_path}/orphan & )   # its parent ends at once: an orphan
        sleep 600
        """, limits(timeout=3))
    started = time.monotonic()
    outcome = build()
    assert time.monotonic() - started < 3 + 15
    assert outcome.build is None and outcome.status == Status.TIMEOUT and outcome.retry
    assert outcome.reason == ("build timed out: over its 3 s limit (build.limits.timeout); not a verdict on the "
                              "commit: built again next run")
    assert gone(tmp_path / "grandchild") and gone(tmp_path / "orphan")
    assert marker(where)["status"] == "timeout" and marker(where)["retry"] is True
    assert not build().cached  # tried again, not read back as a failure


def test_a_build_over_its_memory_cap_is_killed_and_tried_again(project, tmp_path):
    build, where = project('"$PY" -c "b = bytearray(400 << 20); b[::4096] = bytes(len(b) >> 12); '
                           'import time; time.sleep(60)"', limits(memory_mb=150))
    started = time.monotonic()
    outcome = build()
    assert time.monotonic() - started < 30
    assert outcome.status == Status.OUT_OF_MEMORY and outcome.retry
    assert "over the 150 MiB cap (build.limits.memory_mb)" in outcome.reason
    assert marker(where)["status"] == "out_of_memory"


def test_a_build_killed_from_outside_is_built_again_next_run_and_then_cached(project, tmp_path):
    flag, pidfile = tmp_path / "killed-once", tmp_path / "build.pid"
    build, where = project(f"""
        if [ -e {flag} ]; then echo built; exit 0; fi
        touch {flag}; echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}
        sleep 600
        """)
    killer = subprocess.Popen(  # another user's process: waits for the build, then kills it
        ["bash", "-c", f"for i in $(seq 1200); do [ -s {pidfile} ] && exec kill -KILL $(cat {pidfile}); "
                       f"sleep 0.05; done"])
    first = build()
    assert killer.wait(timeout=30) == 0
    assert first.build is None and first.status == Status.CRASHED and first.retry
    assert first.reason.startswith("build killed from outside: ") and "SIGKILL" in first.reason
    second = build()
    assert second.build is not None and not second.cached
    assert marker(where)["status"] == "ok"
    assert build().cached


def test_a_compile_error_stays_cached_as_a_failure(project, tmp_path):
    build, where = project("echo 'error: it does not compile'; exit 3")
    first = build()
    assert first.build is None and first.status == Status.FAILED and not first.retry
    assert "status 3" in first.reason
    again = build()
    assert again.cached and again.reason == first.reason


TRACKER_CHILD = """\
import resource, sys, time
from pathlib import Path
from tracker.adapters import get_adapter
from tracker.build import ensure_build
from tracker.adapters import load_config
from tracker.history import open_history

def hwm_kib():  # the peak resident memory of this process so far
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

config, cache = Path(sys.argv[1]), Path(sys.argv[2])
fw = load_config(config).framework("synth")
history = open_history(fw, cache)
revision = history.revisions()[-1]
checkout = history.checkout_fn(revision)
before = hwm_kib()
started = time.perf_counter()
outcome = ensure_build(fw, revision, get_adapter("command"), cache, checkout)
cpu = resource.getrusage(resource.RUSAGE_SELF)
print(outcome.status, hwm_kib() - before, round(time.perf_counter() - started, 3),
      round(cpu.ru_utime + cpu.ru_stime, 3), flush=True)
"""


def tracker_child(tmp_path: Path) -> subprocess.Popen:
    """A tracker process of its own, building the project's revision (so its memory and signals are its own)."""
    (tmp_path / "tracker_child.py").write_text(TRACKER_CHILD)
    return subprocess.Popen([PY, tmp_path / "tracker_child.py", tmp_path / "frameworks.yaml", tmp_path / "cache"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def test_a_build_printing_100_mb_is_logged_capped_and_the_tracker_stays_flat(project, tmp_path):
    line = "x" * 90
    (tmp_path / "chatty.py").write_text(f"import sys\nfor i in range(1_000_000):\n"
                                        f"    sys.stdout.write(f'line {{i:07d}} {line}\\n')\n")
    build, where = project(f'"$PY" {tmp_path}/chatty.py', limits(log_mb=2))
    child = tracker_child(tmp_path)
    out, _ = child.communicate(timeout=300)
    status, hwm_delta_kib, _, _ = out.split()
    assert child.returncode == 0 and status == "ok"
    assert int(hwm_delta_kib) < 20 * 1024  # it was 306 MB when the output was read back into memory
    log = where / "build.log"
    assert log.stat().st_size < 2.1 * 2**20
    text = log.read_text()
    assert f"line 0000000 {line}" in text and text.rstrip().endswith(f"line 0999999 {line}")
    assert "bytes of output cut here: the log keeps the first 1048576 and the last 1048576 bytes" in text
    assert [p.name for p in where.iterdir() if p.name.startswith("tmp")] == []  # spools gone


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, -2), (signal.SIGKILL, -9)])
def test_a_tracker_stopped_while_it_builds_takes_the_whole_build_tree_with_it(project, tmp_path, sig, code):
    build, where = project(f"""
        setsid "$PY" -c "{SLEEPER}" {tmp_path}/grandchild &
        sleep 600
        """)
    child = tracker_child(tmp_path)
    try:
        wait_for(tmp_path / "grandchild")
        time.sleep(0.5)  # a poll of the tree has seen the grandchild
        child.send_signal(sig)
        assert child.wait(timeout=30) == code
    finally:
        child.kill()
    deadline = time.monotonic() + 10  # after a SIGKILL it is the reaper's to do, a moment later
    while not gone(tmp_path / "grandchild") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(tmp_path / "grandchild")
    assert not (where / "build.json").exists()  # interrupted: the next run starts the build again


def test_build_limits_default_and_stay_out_of_the_recipe_hash(tmp_path):
    (tmp_path / "a.yaml").write_text(config_text(tmp_path, tmp_path / "b.sh"))
    (tmp_path / "b.yaml").write_text(config_text(tmp_path, tmp_path / "b.sh", limits(timeout=60, log_mb=0.5)))
    plain, limited = (load_config(tmp_path / f).framework("synth") for f in ("a.yaml", "b.yaml"))
    assert plain.build.limits == BUILD_LIMITS
    assert (BUILD_LIMITS.timeout_s, BUILD_LIMITS.memory_mb, BUILD_LIMITS.log_mb) == (3 * 3600, 16384, 8)
    assert (limited.build.limits.timeout_s, limited.build.limits.memory_mb, limited.build.limits.log_mb) == \
        (60, 16384, 0.5)
    assert recipe_hash(plain) == recipe_hash(limited)


@pytest.mark.parametrize("given, message", [
    (limits(timeout=0), "f.yaml:13: frameworks[0].build.limits.timeout: must be greater than 0, got 0"),
    (limits(memory_mb="lots"), "f.yaml:13: frameworks[0].build.limits.memory_mb: must be an integer, got 'lots'"),
    (limits(log_mb=-1), "f.yaml:13: frameworks[0].build.limits.log_mb: must be greater than 0, got -1"),
    (limits(timeout=".nan"), "f.yaml:13: frameworks[0].build.limits.timeout: must be a finite number"),
    (limits(cpus=2), "f.yaml:13: frameworks[0].build.limits.cpus: unknown key (allowed: timeout, memory_mb, "
                     "log_mb)"),
    ("\n      limits: 3", "f.yaml:13: frameworks[0].build.limits: must be a mapping"),
])
def test_bad_build_limits_name_the_line_and_field(tmp_path, given, message):
    (tmp_path / "f.yaml").write_text(config_text(tmp_path, tmp_path / "b.sh", given))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "f.yaml")
    assert str(info.value).startswith(message)


def test_a_stage_limit_takes_no_log_cap(tmp_path):
    (tmp_path / "f.yaml").write_text(config_text(tmp_path, tmp_path / "b.sh") + "    limits: {log_mb: 1}\n")
    with pytest.raises(ConfigError, match=r"f\.yaml:14: frameworks\[0\]\.limits\.log_mb: unknown key"):
        load_config(tmp_path / "f.yaml")


@pytest.mark.slow
def test_the_next_nightly_builds_again_a_build_killed_from_outside_but_not_a_broken_one(tmp_path, monkeypatch,
                                                                                        capsys):
    from tests.synthetic import PYTHON, config_text as synth_config
    from tests.test_nightly import Tracker
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    good, broken = make_repo(tmp_path / "repo", [Step(), Step(broken=True)])
    flag, pidfile = tmp_path / "killed-once", tmp_path / "build.pid"
    (tmp_path / "build.sh").write_text(f"""
        python3 -c 'import ast; ast.parse(open("prover.py").read())' || exit 1
        if [ ! -e {flag} ]; then touch {flag}; echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; sleep 600; fi
        """)
    tracker = Tracker(tmp_path, tmp_path / "repo")
    recipe = f"commands: [\"{PYTHON} -c 'import ast; ast.parse(open(\\\"prover.py\\\").read())'\"]"
    assert recipe in synth_config(tmp_path / "repo")
    ours = f'commands: ["bash {tmp_path}/build.sh"]'
    tracker.config.write_text(synth_config(tmp_path / "repo").replace(recipe, ours))
    killer = subprocess.Popen(
        ["bash", "-c", f"for i in $(seq 2400); do [ -s {pidfile} ] && exec kill -KILL $(cat {pidfile}); "
                       f"sleep 0.05; done"])
    tracker("nightly")
    assert killer.wait(timeout=60) == 0
    first = capsys.readouterr().out
    assert f"{good[:8]}: build killed from outside: bash killed by signal SIGKILL" in first
    assert "build failed: bash exited with status 1" in first
    tracker("nightly")
    second = capsys.readouterr().out
    assert f"{good[:8]}: build made" in second and broken[:8] not in second
    assert good in tracker.asv_points()


@pytest.mark.parametrize("size", [0, 1000, 2 * 2**20 - 1, 2 * 2**20, 2 * 2**20 + 1, 7 * 2**20 + 12345])
def test_a_capped_log_keeps_exactly_the_first_and_last_halves(tmp_path, size):
    from tracker.measure import Limits, run_measured
    code = (f"import os, sys\nn = {size}\ndata = bytes((i * 7 + i // 251) % 256 for i in range(n))\n"
            f"open(sys.argv[1], 'wb').write(data)\n"
            f"for i in range(0, n, 65537): sys.stdout.buffer.write(data[i:i + 65537])\n")
    log, argv = tmp_path / "log", [PY, "-c", code, str(tmp_path / "expected")]
    run_measured(argv, log_path=log, limits=Limits(log_mb=2))
    header = f"$ {' '.join(argv)}\n".encode()
    expected, kept = (tmp_path / "expected").read_bytes(), log.read_bytes()
    assert kept.startswith(header)
    kept = kept[len(header):]
    if size <= 2 * 2**20:
        assert kept == expected
    else:
        head, tail = expected[:2**20], expected[-2**20:]
        note = (f"\n[... {size - 2 * 2**20} bytes of output cut here: the log keeps the first 1048576 and the "
                f"last 1048576 bytes (log_mb) ...]\n").encode()
        assert kept == head + note + tail
