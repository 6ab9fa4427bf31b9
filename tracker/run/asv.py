"""asv around the tracker: one derived config per framework, and the asv commands the tracker runs.

asv owns what it is good at (storing results per commit, statistics, regression detection, the site);
the tracker owns what asv cannot do for these frameworks (histories, builds, provers). Each framework
gets its own asv config derived from the shared `asv.conf.json`: its history repo, its own results and
html dirs. The environment is always the tracker's own interpreter, as asv's existing environment named
by its Python version, not its path (tracker.run.asv_env), so a checkout elsewhere adds to the same series.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from tracker.config import ConfigError
from tracker.layout import Layout
from tracker.run import asv_env
from tracker.fsutil import atomic_write_json, read_json
from tracker.measure import ChildFailed, Limits, run_measured
from tracker.types import Framework
from tracker.store.paths import FrameworkStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_DIR = PROJECT_ROOT / "benchmarks"
ENV_PLUGIN = f".{asv_env.__name__}"  # asv imports a plugin named with a leading dot as a module
ATOMIC = ("tracker.run.atomic_asv",)  # asv with its JSON files written atomically


def read_shared_config(path: Path) -> dict:
    """asv.conf.json allows // comments; strip whole-line ones before parsing."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(path, None, "", f"the shared asv config beside frameworks.yaml is needed: "
                                          f"{exc.strerror}") from None
    text = "\n".join(line if not line.lstrip().startswith("//") else "" for line in lines)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(path, getattr(exc, "lineno", None), "", f"not JSON: {exc.msg}") from None


def derive_config(fw: Framework, repo_path: Path, branch: str, layout: Layout, shared: Path,
                  commit_url: str = "") -> Path:
    """Write the framework's asv config and return its path."""
    conf = read_shared_config(shared)
    conf.update({
        "project": fw.name,
        "project_url": fw.repo if fw.repo and "://" in fw.repo else conf.get("project_url", ""),
        "repo": str(repo_path),
        "branches": [branch],
        "environment_type": asv_env.TOOL,
        "plugins": [*conf.get("plugins", []), ENV_PLUGIN],
        "benchmark_dir": str(BENCHMARK_DIR),
        "results_dir": str(FrameworkStore(layout, fw.name).asv),
        "html_dir": str(layout.html / fw.name),
        "env_dir": str(layout.cache / "asv" / fw.name / "env"),
        "show_commit_url": commit_url,
        "dvcs": "git",
    })
    path = layout.asv_config(fw.name)
    atomic_write_json(path, conf)
    return path


def set_aside_torn_results(results_dir: Path) -> list[Path]:
    """asv writes its result files in place, not atomically: a tracker killed at that moment leaves one torn.

    asv would stop on it (run and publish both read every file), so it is renamed `*.torn` beside itself.
    Nothing is lost: the tracker's own records (written atomically) hold every figure, and the next run
    of that revision writes asv's result again from them without proving anything.
    """
    torn = []
    for path in sorted([*results_dir.glob("*.json"), *results_dir.glob("*/*.json")]):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            os.replace(path, path.with_name(path.name + ".torn"))
            torn.append(path)
        except OSError:
            continue
    return torn


def adopt_path_named_results(results_dir: Path) -> list[str]:
    """Results of the older, path-named environment joined to the version-named series (asv_env)."""
    return asv_env.adopt_path_named_results(results_dir)


def machine_name() -> str:
    name = os.environ.get("ZKML_TRACKER_MACHINE") or os.uname().nodename
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:60] or "machine"


def asv(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
        timeout_s: float = 24 * 3600, launcher: Sequence[str] = ("asv",)) -> None:
    """Run one asv command with the tracker's interpreter; raise ChildFailed if asv fails.

    `launcher` is the module (and its arguments) that runs asv's command line: asv itself, or
    `tracker.publish.steps`, asv with the tracker's step detection."""
    run_measured([sys.executable, "-m", *launcher, *args], log_path=log_path, cwd=PROJECT_ROOT,
                 env={**os.environ, **(env or {})}, limits=Limits(timeout_s=timeout_s))


MACHINE_FIELDS = ("os", "arch", "cpu", "num_cpu", "ram")


def ensure_machine(config: Path) -> str:
    """Give asv the machine's description before a run (without one, a first run stops at a prompt).

    asv puts every field of the description (os with its kernel release, cpu, ram, ...) into a series'
    graph path, so the description must not drift: a name stands for the description first recorded
    under it in the results (which travel with merged shards and the results branch), and a name seen for
    the first time is described by this host. `asv machine` is not used for this: with a name of its
    own it stores that name alone on a fresh HOME, and it drops any field given equal to this host's.
    Each record still keeps the real host it ran on.
    """
    from asv.machine import Machine

    name = machine_name()
    recorded = recorded_machine(config, name)
    description = recorded if recorded is not None else {
        k: str(v) for k, v in Machine.get_defaults().items() if k in MACHINE_FIELDS}
    machines_file = Path(os.path.expanduser("~/.asv-machine.json"))
    machines = read_json(machines_file)
    machines = machines if isinstance(machines, dict) else {}
    machines.update({"version": 1, name: {**description, "machine": name}})
    atomic_write_json(machines_file, machines)
    conf = read_json(config)
    if isinstance(conf, dict) and conf.get("results_dir"):
        check_writable(Path(conf["results_dir"]) / name)
    return name


def check_writable(directory: Path) -> None:
    """Raise OSError (the directory, the system's words) where asv could not write its results.

    asv stores its result files in place and, where it cannot, says why only in its own log, and the
    tracker would see "asv run reported failed benchmarks" after proving everything: so the directory is
    tried first, with a file made and removed, and the run stops before any work, exit 74."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".writable-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(directory)) from None


def recorded_machine(config: Path, name: str) -> dict[str, str] | None:
    """The description asv recorded for `name` in this config's results, or None if there is none yet."""
    conf = read_json(config)
    results = conf.get("results_dir") if isinstance(conf, dict) else None
    recorded = read_json(Path(results) / name / "machine.json") if results else None
    if not isinstance(recorded, dict):
        return None
    return {f: str(recorded[f]) for f in MACHINE_FIELDS if f in recorded}


def run_benchmarks(config: Path, sha: str, job_file: Path, log_path: Path, bench: str | None = None) -> str | None:
    """`asv run` for one commit with the tracker's interpreter; None if it went through, else the reason."""
    args = ["run", "--config", str(config), "--environment", f"{asv_env.TOOL}:{sys.executable}",
            "--set-commit-hash", sha, "--machine", machine_name(), "--launch-method", "forkserver",
            "--show-stderr"]
    if bench:
        args += ["--bench", bench]
    try:
        asv(args, log_path, env={"ZKML_TRACKER_JOB": str(job_file)}, launcher=ATOMIC)
    except ChildFailed:
        # asv exits non-zero when any benchmark failed; the failures are in the records and asv's results
        return f"asv run reported failed benchmarks (log: {log_path})"
    return None


def publish(config: Path, log_path: Path, steps_cache: Path) -> None:
    """`asv publish`, its step detection block by block and remembered in `steps_cache` (see
    tracker.publish.steps: asv's own detector grows faster than the history)."""
    asv(["publish", "--config", str(config)], log_path, launcher=("tracker.publish.steps", str(steps_cache)))
