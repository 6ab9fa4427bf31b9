"""asv's site around the tracker: one derived config per framework, and `asv publish` run on it.

asv owns what it is good at (results per commit, statistics, regression detection, the site); the tracker
owns what asv cannot do for these frameworks (histories, builds, provers) and writes asv's result files
itself (tracker.store.asv). Each framework gets its own asv config derived from the shared
`asv.conf.json`: its history repo, its own results and html dirs, so `asv publish`, `asv compare` and
`asv show` read its results as asv's own.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

from tracker.config import ConfigError
from tracker.layout import Layout
from tracker.fsutil import atomic_write_json
from tracker.measure import Limits, run_measured
from tracker.types import Framework
from tracker.store.paths import FrameworkStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_DIR = PROJECT_ROOT / "benchmarks"


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
        "environment_type": "existing",
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


def asv(args: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
        timeout_s: float = 24 * 3600, launcher: Sequence[str] = ("asv",)) -> None:
    """Run one asv command with the tracker's interpreter; raise ChildFailed if asv fails.

    `launcher` is the module (and its arguments) that runs asv's command line: asv itself, or
    `tracker.publish.steps`, asv with the tracker's step detection."""
    run_measured([sys.executable, "-m", *launcher, *args], log_path=log_path, cwd=PROJECT_ROOT,
                 env={**os.environ, **(env or {})}, limits=Limits(timeout_s=timeout_s))


def publish(config: Path, log_path: Path, steps_cache: Path) -> None:
    """`asv publish`, its step detection block by block and remembered in `steps_cache` (see
    tracker.publish.steps: asv's own detector grows faster than the history)."""
    asv(["publish", "--config", str(config)], log_path, launcher=("tracker.publish.steps", str(steps_cache)))
