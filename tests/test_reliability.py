"""Faults provoked for real on a synthetic framework: crashing, starving and hanging provers, the tracker
itself killed with SIGKILL in the middle of a run, two nightlies at once, hostile configuration, and
commit messages carrying HTML. After each: no process of the tree left, nothing recorded lost or torn.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.synthetic import Step, _git, add_commit, config_text, make_repo
from tracker.cli import main
from tracker.fsutil import read_json

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
MODELS = ["-m", "linear", "-m", "mlp"]


@pytest.fixture(autouse=True)
def machine(monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")


class Tracker:
    """The command line against one config and one set of dirs, in this process or as a child."""

    def __init__(self, root: Path, config: str):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "frameworks.yaml"
        self.config.write_text(config)
        (root / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
        self.results, self.cache = root / "results", root / "cache"
        self.args = ["--config", str(self.config), "--results", str(self.results), "--html", str(root / "html"),
                     "--cache", str(self.cache)]

    def __call__(self, *args: str) -> int:
        return main([*self.args, *args])

    def start(self, *args: str, log: str = "child.log") -> subprocess.Popen:
        """The tracker as a child in its own process group, as cron or a CI runner would start it."""
        out = open(self.root / log, "ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen([sys.executable, "-m", "tracker", *self.args, *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def records(self, sha: str) -> list[Path]:
        return sorted((self.results / "synth" / "records" / sha).glob("*.json"))

    def record(self, sha: str, model: str) -> dict:
        return read_json(self.results / "synth" / "records" / sha / f"{model}--default.json")

    def asv_result(self, sha: str) -> Path | None:
        found = [p for p in (self.results / "synth" / "asv").glob(f"*/{sha[:8]}-*.json")]
        return found[0] if found else None

    def files(self) -> dict[Path, bytes]:
        """Every file the tracker keeps (results and the build cache), logs aside."""
        keep = [p for p in self.results.rglob("*") if p.is_file() and "logs" not in p.parts]
        keep += [p for p in (self.cache / "builds").rglob("build.json")]
        return {p: p.read_bytes() for p in keep}


def wait_for(predicate, timeout: float = 120, what: str = "") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def survivors(marker: str, grace: float = 5.0) -> list[str]:
    """Processes (not zombies) whose command line holds `marker`, after giving the killed a moment to go."""
    deadline = time.time() + grace
    while True:
        found = []
        for p in psutil.process_iter(["cmdline", "status"]):
            try:
                if p.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(p.info["cmdline"] or ()):
                    found.append(f"{p.pid} {' '.join(p.info['cmdline'])}")
            except psutil.Error:
                pass
        if not found or time.time() > deadline:
            return found
        time.sleep(0.1)


def assert_no_torn_json(*dirs: Path) -> None:
    for d in dirs:
        for path in d.rglob("*.json"):
            json.loads(path.read_text())  # raises on a half-written file


# --- provers that crash, starve or hang ----------------------------------------------------------------

FAULTY_PROVER = textwrap.dedent("""\
    import os, signal, subprocess, sys, time
    FAULTS = {faults!r}
    stage, workdir, model, marker = sys.argv[1:5]
    fault = FAULTS.get(model) if stage == "prove" else None

    def helper(code, **kw):  # a worker of the prover, with the marker on its command line
        return subprocess.Popen([sys.executable, "-c", code, marker], **kw)

    if fault == "sigkill":  # its worker left the process group first
        helper("import time; time.sleep(300)", start_new_session=True)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "segfault":
        helper("import time; time.sleep(300)")
        time.sleep(0.5)
        import ctypes
        ctypes.string_at(0)
    elif fault == "oom":  # the worker takes the memory: the cap is on the whole tree
        helper("import time; b = bytearray(600 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(300)")
        time.sleep(300)
    elif fault == "hang":
        helper("import time; time.sleep(300)")
        time.sleep(300)
    if stage == "prove":
        with open(os.path.join(workdir, "proof"), "wb") as f:
            f.write(b"p" * 1000)
""")


def faulty_repo(path: Path, faults: list[dict]) -> list[str]:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "--initial-branch=main")
    shas = []
    for i, f in enumerate(faults):
        (path / "prover.py").write_text(FAULTY_PROVER.format(faults=f))
        _git(path, "add", "prover.py")
        _git(path, "commit", "-q", "-m", f"commit {i}: {f or 'healthy'}", when=1_700_000_000 + i * 86400)
        shas.append(_git(path, "rev-parse", "HEAD").strip())
    return shas


def faulty_config(repo: Path, marker: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        repeats: 1
        frameworks:
          - name: synth
            adapter: command
            proof_system: none (test prover)
            model_format: ONNX
            repo: {repo}
            history: {{kind: commits, branch: main}}
            build: {{kind: none}}
            limits: {{timeout: 6, memory_mb: 200}}
            stages:
              prove: "python3 {{src}}/prover.py prove {{workdir}} {{model}} {marker}"
              verify: "python3 {{src}}/prover.py verify {{workdir}} {{model}} {marker}"
        """)


def test_crashing_starving_and_hanging_provers_are_recorded_and_leave_nothing_running(tmp_path, capsys):
    marker = f"zkml-fault-{uuid.uuid4().hex}"
    shas = faulty_repo(tmp_path / "repo", [{}, {"linear": "sigkill", "mlp": "segfault"},
                                           {"linear": "oom", "mlp": "hang"}, {}])
    t = Tracker(tmp_path / "t", faulty_config(tmp_path / "repo", marker))
    started = time.perf_counter()
    assert t("run", "--no-publish", *MODELS) == 1  # failures recorded, the run went on
    assert time.perf_counter() - started < 120
    assert survivors(marker) == []

    for sha in (shas[0], shas[3]):  # the healthy revisions around the faulty ones are complete
        for model in ("linear", "mlp"):
            assert t.record(sha, model)["status"] == "ok"
            assert t.record(sha, model)["sizes"]["proof_bytes"] == 1000

    killed = t.record(shas[1], "linear")
    # the command adapter's wrapper dies of its prover's signal, so the crash is recorded by the signal's name
    assert killed["status"] == "crashed" and "SIGKILL" in killed["reason"], killed
    segv = t.record(shas[1], "mlp")
    assert segv["status"] == "crashed" and "SIGSEGV" in segv["reason"], segv
    oom = t.record(shas[2], "linear")
    assert oom["status"] == "out_of_memory" and oom["stages"]["prove"]["limit"] == "200 MiB"
    assert "200 MiB cap" in oom["reason"]
    hang = t.record(shas[2], "mlp")
    assert hang["status"] == "timeout" and hang["stages"]["prove"]["limit"] == "6 s"
    assert "timed out after 6 s" in hang["reason"]

    # asv has every revision; the failed benchmarks are failures there, the healthy ones have values
    for sha in shas:
        assert t.asv_result(sha) is not None
    good = read_json(t.asv_result(shas[3]))["results"]["benchmarks.ProofSize.track_proof_size"][0]
    bad = read_json(t.asv_result(shas[1]))["results"]["benchmarks.ProofSize.track_proof_size"][0]
    assert good == [1000, 1000] and bad in (None, [None, None])  # asv keeps a failed benchmark as no value
    status = read_json(t.results / "synth" / "status.json")
    by_sha = {r["sha"]: r for r in status["revisions"]}
    assert by_sha[shas[2]]["status"] == "failed" and "timeout" in by_sha[shas[2]]["reason"]
    assert by_sha[shas[0]]["status"] == "ok" and by_sha[shas[3]]["status"] == "ok"
    assert_no_torn_json(t.results, t.cache)


# --- the tracker killed in the middle of a run --------------------------------------------------------

def test_the_tracker_killed_mid_run_loses_nothing_and_the_rerun_does_only_what_is_missing(tmp_path, capsys):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=1.0, proof_bytes=1000 + i) for i in range(4)])
    t = Tracker(tmp_path / "t", config_text(repo))
    run = ["run", "--no-publish", *MODELS, "--repeats", "1"]
    snapshots = []

    def running(pattern: str) -> bool:
        return any(pattern in line for line in survivors(str(t.root), grace=0))

    # kill 1: the first revision's records exist (its asv result is written from them) and the next is proved;
    # kill 2: the second revision's first record exists and its next model is being proved
    for sha, count, child_pattern in ((shas[0], 2, "prover.py prove"), (shas[1], 1, "prover.py prove")):
        child = t.start(*run)
        wait_for(lambda: (len(t.records(sha)) >= count and running(child_pattern)) or child.poll() is not None,
                 what=f"records of {sha[:8]} and {child_pattern!r} running")
        assert child.poll() is None, "the run ended before it could be killed"
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        # the reaper acts when the killed tracker's end of its pipe closes: a moment, longer on a loaded machine
        assert survivors(str(t.root), grace=3.0) == [], "a child of the killed tracker is still running"
        assert_no_torn_json(t.results, t.cache)
        snapshots.append(t.files())

    capsys.readouterr()
    assert t(*run) == 0
    out = capsys.readouterr().out
    after = t.files()
    for snap in snapshots:  # everything kept before a kill is byte for byte the same
        for path, data in snap.items():
            if path.name in ("status.json", "benchmarks.json", ".tracker.lock"):
                continue  # a run's own summary, asv's list of benchmarks and the lock's holder: every run's own
            if path.name == "revisions.json":  # grows with each revision run: what it held is kept
                known = json.loads(after[path])["revisions"]
                assert all(known[k] == v for k, v in json.loads(data)["revisions"].items())
                continue
            assert after[path] == data, path
    before = snapshots[-1]
    for sha in shas:
        assert len(t.records(sha)) == 2 and t.asv_result(sha) is not None
        for model in ("linear", "mlp"):
            proved = f"synth {sha[:8]} {model} [default] proving" in out
            assert proved == (t.records(sha)[0].parent / f"{model}--default.json" not in before), (sha, model)
        build = next((t.cache / "builds" / "synth").glob(f"{sha[:16]}-*")) / "build.json"
        if build in before:
            assert f"synth {sha[:8]}: build cached" in out
        asv = t.asv_result(sha)
        if asv in before:
            assert after[asv] == before[asv]
    assert_no_torn_json(t.results, t.cache)
    assert [t.record(s, "linear")["sizes"]["proof_bytes"] for s in shas] == [1000, 1001, 1002, 1003]


def asv_figures(path: Path) -> str:
    """The values and params of every benchmark in an asv result, without when asv ran it (NaN kept)."""
    return json.dumps({k: v[:2] for k, v in read_json(path)["results"].items()}, sort_keys=True)


def test_an_asv_result_torn_by_a_kill_is_set_aside_and_written_again_from_the_records(tmp_path, capsys):
    # asv writes its result files in place: a kill at that moment leaves one cut short, as made here
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.05, proof_bytes=1000 + i) for i in range(2)])
    t = Tracker(tmp_path / "t", config_text(repo))
    run = ["run", "--no-publish", *MODELS, "--repeats", "1"]
    assert t(*run) == 0
    whole = t.asv_result(shas[1])
    figures = asv_figures(whole)
    torn_bytes = whole.read_bytes()[: len(whole.read_bytes()) // 2]
    whole.write_bytes(torn_bytes)
    records = {p: p.read_bytes() for sha in shas for p in t.records(sha)}
    capsys.readouterr()

    assert t(*run) == 0
    out = capsys.readouterr().out
    assert f"asv result {whole.name} was torn" in out and "proving" not in out
    assert whole.with_name(whole.name + ".torn").read_bytes() == torn_bytes  # kept for a post-mortem
    assert asv_figures(whole) == figures  # the same figures (and params), from the records
    assert {p: p.read_bytes() for p in records} == records
    assert t("publish") == 0
    assert_no_torn_json(t.results)


def test_two_nightlies_at_once_and_a_nightly_killed_while_holding_the_lock(tmp_path, capsys):
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(delay=0.5) for _ in range(3)])
    t = Tracker(tmp_path / "t", config_text(repo))
    lock = t.results / ".tracker.lock"
    first = t.start("nightly", "--no-publish", "-m", "linear")
    wait_for(lambda: lock.exists() and lock.read_text() == f"{first.pid} nightly", what="the first nightly's lock")
    wait_for(lambda: len(t.records(shas[0])) == 1, what="the first record")

    capsys.readouterr()
    assert t("nightly", "--no-publish", "-m", "linear") == 75
    out = capsys.readouterr()
    assert out.err == (f"zkml-tracker: nightly not started: another zkml-tracker (nightly, pid {first.pid}) "
                       f"holds {lock}; try again when it ends\n")
    assert first.poll() is None

    # the holder dies without a chance to clean up: its lock goes with it, the next nightly finishes the work
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert survivors(str(t.root)) == []
    kept = {p: d for p, d in t.files().items() if "records" in p.parts}
    assert kept
    done = sum(t.asv_result(sha) is not None for sha in shas)  # what the killed nightly finished is not new
    assert t("nightly", "--no-publish", "-m", "linear") in (0, 3)
    assert f"{3 - done} new revision(s) run" in capsys.readouterr().out
    for sha in shas:
        assert t.asv_result(sha) is not None and len(t.records(sha)) == 1
    after = t.files()
    assert all(after[p] == d for p, d in kept.items())
    assert_no_torn_json(t.results, t.cache)
    assert t("nightly", "--no-publish", "-m", "linear") == 0
    assert "0 new revision(s) run" in capsys.readouterr().out


# --- hostile configuration and history ----------------------------------------------------------------

@pytest.mark.parametrize("what, edit", [
    ("ext transport", ("repo: {repo}", "repo: \"ext::sh -c touch% {mark}\"")),
    ("fd transport", ("repo: {repo}", "repo: \"fd::0\"")),
    ("option as repo", ("repo: {repo}", "repo: \"--upload-pack=touch {mark}\"")),
    ("ssh host as option", ("repo: {repo}", "repo: \"ssh://-oProxyCommand=touch%20{mark}/r\"")),
    ("ssh user@host as option", ("repo: {repo}", "repo: \"ssh://git@-oProxyCommand=touch%20{mark}/r\"")),
    ("dash revision", ("nightly_max: 50}", "nightly_max: 50, pinned: [\"--output={mark}\"]}")),
    ("dash branch", ("branch: main", "branch: \"--upload-pack=touch {mark}\"")),
    ("slash in name", ("name: synth", "name: ../../etc")),
    ("dots in name", ("name: synth", "name: ..")),
    ("name with slash", ("name: synth", "name: a/b")),
])
def test_hostile_configuration_is_refused_before_anything_runs(tmp_path, capsys, what, edit):
    repo, mark = tmp_path / "repo", tmp_path / "pwned"
    make_repo(repo, [Step()])
    text = config_text(repo)
    old, new = (x.replace("{repo}", str(repo)).replace("{mark}", str(mark)) for x in edit)
    assert old in text
    t = Tracker(tmp_path / "t", text.replace(old, new))
    for command in (["run"], ["nightly"], ["list"]):
        assert t(*command) == 2
        err = capsys.readouterr().err
        assert err.startswith("zkml-tracker: frameworks.yaml:") and err.count("\n") == 1
    assert not mark.exists()
    assert not t.results.exists() and not t.cache.exists()


def test_a_commit_message_with_html_is_kept_as_plain_text(tmp_path, capsys):
    hostile = "<script>alert('x')</script> & <img src=x onerror=alert(1)> \"quoted\" </td>"
    repo = tmp_path / "repo"
    shas = make_repo(repo, [Step(), Step(), Step()])
    shas.append(add_commit(repo, Step(proof_bytes=4000, subject=hostile)))
    shas.append(add_commit(repo, Step(proof_bytes=4000)))
    t = Tracker(tmp_path / "t", config_text(repo))
    assert t("run", "-m", "linear", "--repeats", "1") == 0
    kept = read_json(t.results / "synth" / "revisions.json")["revisions"]
    assert kept[shas[3]]["subject"] == hostile  # data, as it was written, neither escaped nor stripped
    capsys.readouterr()
    assert t("regressions") == 3
    out = capsys.readouterr().out
    assert shas[3][:8] in out and "proof_size" in out
    assert t("regressions", "--json") == 3
    rows = json.loads(capsys.readouterr().out)["regressions"]
    # proof sizes are exact; the 0.1 s synthetic prove time may jitter past 10 % on a loaded machine
    assert [r["first_bad"] for r in rows if r["metric"] == "proof_size"] == [shas[3]]
    assert t("list") == 0
    assert "Traceback" not in capsys.readouterr().err
