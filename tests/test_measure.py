"""run_measured against real child processes: memory, timeouts, crashes, orphans."""
from __future__ import annotations

import sys
import time

import psutil
import pytest

from tracker.measure import (ChildCrashed, ChildError, ChildOutOfMemory, ChildTimeout, Limits, captured,
                             output_of, run_measured)

PY = sys.executable


def test_measures_a_child_that_allocates_a_known_amount(tmp_path):
    code = "import time; b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.5)"
    m = run_measured([PY, "-c", code], log_path=tmp_path / "log")
    assert m.returncode == 0
    assert 300 * 2**20 <= m.peak_rss_bytes < 420 * 2**20
    assert m.wall_s >= 0.5


def test_a_small_child_of_a_big_tracker_is_measured_at_its_own_size(tmp_path):
    """Linux carries a process's peak RSS over exec: a child started from a tracker that once held 600 MB
    read 613 MB from wait4 while it used 50. The measurement must be the child's own."""
    big = bytearray(600 * 1024 * 1024)
    big[::4096] = b"x" * len(big[::4096])
    del big
    code = "import time; b = bytearray(50 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3)"
    m = run_measured([PY, "-c", code], log_path=tmp_path / "log")
    assert 50 * 2**20 <= m.peak_rss_bytes < 120 * 2**20, m.peak_rss_bytes


def test_counts_the_memory_of_grandchildren(tmp_path):
    child = "import time; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.6)"
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    m = run_measured([PY, "-c", code], log_path=tmp_path / "log")
    assert m.peak_rss_bytes >= 200 * 2**20


def test_cpu_time_of_a_busy_child(tmp_path):
    m = run_measured([PY, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.4: pass"],
                     log_path=tmp_path / "log")
    assert m.cpu_s >= 0.35


def test_timeout_kills_the_whole_tree(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    code = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    with pytest.raises(ChildTimeout) as err:
        run_measured([PY, "-c", code], log_path=tmp_path / "log", limits=Limits(timeout_s=1.5))
    assert "1.5 s" in err.value.reason
    grandchild = int(pidfile.read_text())
    assert not _alive(grandchild)


def test_a_grandchild_left_behind_is_killed_after_a_clean_exit(tmp_path):
    pidfile = tmp_path / "orphan.pid"
    code = (f"import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid))")
    run_measured([PY, "-c", code], log_path=tmp_path / "log")
    assert not _alive(int(pidfile.read_text()))


def test_memory_cap_kills_and_says_which_limit(tmp_path):
    code = "import time; b = bytearray(400 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(5)"
    with pytest.raises(ChildOutOfMemory) as err:
        run_measured([PY, "-c", code], log_path=tmp_path / "log", limits=Limits(memory_mb=150))
    assert "150 MiB" in err.value.reason
    assert err.value.measurement.wall_s < 5


@pytest.mark.parametrize("code, signal_name", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
])
def test_a_crash_is_typed_and_named(tmp_path, code, signal_name):
    with pytest.raises(ChildCrashed) as err:
        run_measured([PY, "-c", code], log_path=tmp_path / "log")
    assert signal_name in err.value.reason


def test_a_failing_child_carries_its_last_line(tmp_path):
    with pytest.raises(ChildError) as err:
        run_measured([PY, "-c", "import sys; print('first'); sys.exit('the reason')"], log_path=tmp_path / "log")
    assert "status 1" in err.value.reason and "the reason" in err.value.reason
    assert "first" in (tmp_path / "log").read_text()


def test_a_missing_program_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(ChildError) as err:
        run_measured(["/nonexistent/prover"], log_path=tmp_path / "log")
    assert "cannot start" in err.value.reason


def _alive(pid: int) -> bool:
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.05)
    return True


def test_output_of_a_short_query():
    assert output_of([PY, "-c", "import sys; print('v1.2'); sys.exit(3)"]) == "v1.2\n"  # whatever its status
    assert output_of(["/nonexistent/tool", "--version"]) == ""


def test_output_of_kills_a_query_past_its_deadline_with_its_children():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
           "print('pid', flush=True); time.sleep(60)"
    before = {p.pid for p in psutil.process_iter()}
    assert output_of([PY, "-c", code], timeout_s=2) == ""
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if p.pid not in before
            and "time.sleep(60)" in " ".join(p.info["cmdline"] or [])]
    assert left == []


def test_captured_hands_back_stdout_as_text_or_bytes(tmp_path):
    code = "import os, sys; data = sys.stdin.read(); print(data.upper(), os.environ['ZKML_X'], os.getcwd())"
    out = captured([PY, "-c", code], stdin="abc", env={"ZKML_X": "x1"}, cwd=tmp_path)
    assert out == f"ABC x1 {tmp_path}\n"
    assert captured([PY, "-c", "import sys; sys.stdout.buffer.write(bytes([0, 255]))"], binary=True) == b"\x00\xff"


def test_captured_says_the_last_line_of_stderr_of_a_failed_child():
    code = "import sys; print('out'); sys.stderr.write('warning: first\\nfatal: the last line\\n\\n'); sys.exit(128)"
    with pytest.raises(ChildError) as err:
        captured([PY, "-c", code])
    assert err.value.reason == "fatal: the last line"
    assert err.value.log_tail == "warning: first\nfatal: the last line\n\n"
    with pytest.raises(ChildError, match=r"^python[0-9.]* exited with status 3$"):
        captured([PY, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(ChildError, match="^cannot start /nonexistent/tool: No such file or directory$"):
        captured(["/nonexistent/tool"])


def test_captured_kills_a_child_past_its_deadline_with_its_children():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(61)']); " \
           "print('pid', flush=True); time.sleep(61)"
    before = {p.pid for p in psutil.process_iter()}
    with pytest.raises(ChildTimeout, match=r"^python[0-9.]* timed out after 1.5 s$"):
        captured([PY, "-c", code], timeout_s=1.5)
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if p.pid not in before
            and "time.sleep(61)" in " ".join(p.info["cmdline"] or [])]
    assert left == []
