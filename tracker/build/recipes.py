"""A revision made runnable, once: isolated builds cached by (revision, recipe hash).

Each build lives in its own directory under the cache (a venv for `pip` recipes, an npm prefix for `npm`
recipes, a source checkout plus the recipe's commands for `commands`, a checkout built by cargo with its
binaries copied out of one shared target dir for `cargo`: tracker.build.cargo), and ends with a `build.json`
written atomically: `ok` with what the adapter needs to call it, or `failed` with the reason and the log.
A build directory without that file was interrupted and is started again; a finished one, successful or
not, is never redone for the same recipe, so a second run of the same revision does no install at all.

A build runs under the recipe's limits (`build.limits` in frameworks.yaml: the whole build's timeout, a cap
on the memory of its process tree, a cap on the log). A build stopped by one of those, or killed by a signal
it did not send itself (SIGKILL from another user, the kernel's OOM killer, SIGTERM), says nothing about the
commit: its build.json says which (`timeout`, `out_of_memory`, `crashed`) with `retry`, and the next run builds
it again. A build that exits with an error (a compile error) stays cached as `failed`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from tracker.adapters.base import Adapter
from tracker.build.cargo import CargoBuildFailed, cargo_build
from tracker.fsutil import atomic_write_json, read_json
from tracker.history.revisions import Revision
from tracker.measure import (ChildFailed, ChildOutOfMemory, ChildTimeout, Limits, killed_from_outside, no_verdict,
                             run_measured)
from tracker.records import Status
from tracker.serial import from_json, to_json
from tracker.types import Build, BuildError, BuildRecipe, Framework

BUILD_VERSION = 1


@dataclass(frozen=True)
class BuildOutcome:
    """What `ensure_build` says: the build (None if it failed), why not, and whether it was cached."""

    build: Build | None
    reason: str = ""
    cached: bool = False
    log: Path | None = None
    status: Status = Status.OK
    retry: bool = False  # it failed of a limit or of a signal from outside: no verdict, built again next run


def recipe_hash(framework: Framework) -> str:
    recipe = asdict(framework.build)
    for key in ("features", "binaries", "rust_toolchain"):  # cargo's: left out when empty, other kinds keep their hash
        if not recipe.get(key):
            recipe.pop(key, None)
    recipe.pop("limits")  # what a build may use does not change what it makes
    data = json.dumps({"adapter": framework.adapter, "recipe": recipe}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:12]


def build_dir(cache: Path, framework: Framework, revision: Revision) -> Path:
    return cache / "builds" / framework.name / f"{revision.sha[:16]}-{recipe_hash(framework)}"


def ensure_build(framework: Framework, revision: Revision, adapter: Adapter, cache: Path,
                 checkout: Callable[[Path], None] | None = None) -> BuildOutcome:
    """Return the cached build of `revision`, or make it. `checkout(dest)` writes the source tree if needed."""
    framework = adapter.recipe_for(framework, revision)
    where = build_dir(cache, framework, revision)
    marker = read_json(where / "build.json")
    kept = _from_marker(marker, where, cached=True) if isinstance(marker, dict) and \
        marker.get("version") == BUILD_VERSION and not marker.get("retry") else None
    if kept is not None:
        return kept
    shutil.rmtree(where, ignore_errors=True)  # an interrupted (or unreadable) build starts again from nothing
    where.mkdir(parents=True)
    log = where / "build.log"
    source = None
    started = time.perf_counter()
    try:
        if checkout is not None:
            source = where / "src"
            checkout(source)
        build = adapter.build(framework, revision, source, where, log) or \
            adapter.finish_build(framework, _recipe_build(framework, revision, source, where, log), log)
        marker = {"status": Status.OK, "build": to_json(build)}
    except ChildFailed as exc:
        marker = failure_marker(exc, framework.build.limits)
    except BuildError as exc:
        marker = {"status": Status.FAILED, "reason": f"build failed: {exc}"}
    except CargoBuildFailed as exc:  # the compiler's error lines are kept with the reason
        marker = {"status": Status.FAILED, "reason": f"build failed: {exc}", "cargo": exc.details}
    marker["seconds"] = round(time.perf_counter() - started, 3)
    marker.update(version=BUILD_VERSION, revision=revision.sha, label=revision.label, log=str(log))
    atomic_write_json(where / "build.json", marker)
    return _from_marker(marker, where, cached=False)


def failure_marker(exc: ChildFailed, limits: Limits) -> dict:
    """build.json's status and reason for a build step that failed: a verdict on the commit only when the
    build ended by itself (an error exit, a crash of its own); otherwise marked to be tried again."""
    again = "not a verdict on the commit: built again next run"
    if isinstance(exc, ChildTimeout):
        return {"status": Status.TIMEOUT, "retry": True,
                "reason": f"build timed out: over its {limits.timeout_s:g} s limit (build.limits.timeout); {again}"}
    if isinstance(exc, ChildOutOfMemory):
        return {"status": Status.OUT_OF_MEMORY, "retry": True, "reason": f"build killed: its process tree went "
                f"over the {limits.memory_mb} MiB cap (build.limits.memory_mb); {again}"}
    if killed_from_outside(exc):
        return {"status": Status.CRASHED, "retry": True, "reason": f"build killed from outside: {exc.reason}; {again}"}
    return {"status": Status.FAILED, "reason": f"build failed: {exc.reason}"}


def _from_marker(marker: dict, where: Path, cached: bool) -> BuildOutcome | None:
    """What build.json says; None when its build does not read back (then it is made again)."""
    log = Path(marker.get("log") or where / "build.log")
    if marker.get("status") != Status.OK:
        return BuildOutcome(None, marker.get("reason", "build failed"), cached, log,
                            _status(marker.get("status")), bool(marker.get("retry")))
    try:
        return BuildOutcome(from_json(Build, marker.get("build")), "", cached, log)
    except ValueError:
        return None


def _status(text) -> Status:
    try:
        return Status(text)
    except ValueError:
        return Status.FAILED


def _fill(text: str, revision: Revision) -> str:
    return text.replace("{version}", revision.version or "").replace("{sha}", revision.upstream_sha or revision.sha)


def _recipe_build(fw: Framework, revision: Revision, source: Path | None, where: Path, log: Path) -> Build:
    recipe: BuildRecipe = fw.build
    started = time.monotonic()
    reqs = [_fill(r, revision) for r in recipe.requirements]
    env = {**os.environ, **dict(recipe.env)}
    python = node_prefix = None
    if recipe.kind == "cargo":
        return cargo_build(fw, revision, source, where, log)
    if recipe.kind == "pip":
        base = recipe.python or sys.executable
        run_measured([base, "-m", "venv", where / "venv"], log_path=log, limits=_left(recipe.limits, started))
        python = where / "venv" / "bin" / "python"
        run_measured([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs],
                     log_path=log, env=env, limits=_left(recipe.limits, started))
    elif recipe.kind == "npm":
        if shutil.which("npm") is None:
            raise BuildError("npm not on PATH (install Node.js 18+ with npm)")
        node_prefix = where / "node"
        node_prefix.mkdir()
        _npm_install(node_prefix, reqs, log, env, lambda: _left(recipe.limits, started))
    for command in recipe.commands:
        run_measured(["bash", "-c", _fill(command, revision)], log_path=log, cwd=source or where,
                     env={**env, "BUILD_DIR": str(where)}, limits=_left(recipe.limits, started))
    return Build(framework=fw.name, revision=revision.sha, path=where, python=python, node_prefix=node_prefix,
                 source=source, version=revision.version, env=recipe.env)


def _npm_install(prefix: Path, reqs: list[str], log: Path, env: dict[str, str],
                 limits: Callable[[], Limits]) -> None:
    """npm install, from npm's cache where it holds a package: without --prefer-offline npm asks the
    registry again about every package of the tree it cached minutes before (74 for circom's three: 16 s
    against 8 s here, paid again by every release's prefix). A cache that does not know a version (a
    release out since) fails that install, which is then made the ordinary way; a limit or a kill from
    outside ends the build as before."""
    argv = ["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund"]
    try:
        run_measured([*argv, "--prefer-offline", *reqs], log_path=log, env=env, limits=limits())
    except ChildFailed as exc:
        if no_verdict(exc):
            raise
        run_measured([*argv, *reqs], log_path=log, env=env, limits=limits())


def _left(limits: Limits, started: float) -> Limits:
    """The limits of a build's next step: what is left of the whole build's timeout (at least a second, so a
    step past the deadline is started and stopped the usual way, as a timeout)."""
    return replace(limits, timeout_s=max(1.0, limits.timeout_s - (time.monotonic() - started)))
