"""`cargo` builds: a revision's checkout compiled in release mode, its binaries kept with the revision.

Dependencies compile once per framework, not once per commit: every revision builds into one shared
CARGO_TARGET_DIR beside the framework's build dirs, so a later commit recompiles only what changed. That
dir holds one binary per name, the last one built, so each build copies its binaries into its own build
dir (`bin/`) while it still holds the dir's lock, and adapters call those copies. cargo decides that a
crate is fresh by file times, and the checkout carries the commit's own dates (git archive), older than
what the shared dir holds from a later commit: the checkout's files are dated now before cargo runs, so
the crate itself is always compiled again (its dependencies are not). A recipe's `rust_toolchain` picks
rustup's toolchain for the build (`cargo +nightly build`, zkml's README), for rustc's version too.

A build that fails keeps what the compiler said: the `error...` lines and a few after each, in
`cargo-errors.txt` and in `build.json`, with the first of them in the one-line reason; where what failed
is no code but the machine (a toolchain not installed, a registry or git host out of reach), the reason
says that instead. A build that cargo ends because rustc was killed (SIGKILL: the kernel's OOM killer,
another user) is no compile error: it is raised as a crash from outside, and tried again next run like a
build stopped by the recipe's limits.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from tracker.adapters.toolchains import CARGO
from tracker.fsutil import atomic_write_json
from tracker.measure import ChildCrashed, ChildFailed, Limits, no_verdict, run_measured
from tracker.types import Build, BuildError, Framework

RUSTC_KILLED = "(signal: 9, SIGKILL: kill)"  # how cargo reports a rustc killed under it
ERROR_CONTEXT = 6       # lines kept after each error line (where, the code, the hint)
MAX_ERROR_LINES = 200
_ERROR_RE = re.compile(r"^error(\[E\d+\])?[:\s]")
_NOT_INSTALLED_RE = re.compile(r"toolchain '([^']+)' is not installed")
_UNREACHABLE_RE = re.compile(r"Could not resolve host|[Uu]nable to update registry|failed to get `|"
                             r"failed to load source|failed to clone|failed to fetch")


class CargoBuildFailed(Exception):
    """cargo did not build the revision; `details` go into build.json beside the one-line reason."""

    def __init__(self, reason: str, details: dict):
        super().__init__(reason)
        self.details = details


def shared_target_dir(build_dir: Path) -> Path:
    """One CARGO_TARGET_DIR per framework: the build dirs of a framework are siblings."""
    return build_dir.parent / "cargo-target"


def cargo_command(features: tuple[str, ...], binaries: tuple[str, ...], toolchain: str | None = None) -> list[str]:
    argv = ["cargo", *_plus(toolchain), "build", "--release"]
    if features:
        argv += ["--features", ",".join(features)]
    for name in binaries:
        argv += ["--bin", name]
    return argv


def cargo_build(fw: Framework, revision, source: Path | None, where: Path, log: Path) -> Build:
    """Build `source` with the recipe's features and environment; keep its binaries in `where/bin`."""

    if source is None:
        raise BuildError("a cargo build needs a source checkout: give the framework a 'commits' history")
    if shutil.which("cargo") is None:
        raise BuildError(f"cargo not on PATH ({CARGO.install_hint})")
    recipe = fw.build
    target = shared_target_dir(where)
    env = {**os.environ, **dict(recipe.env), "CARGO_TARGET_DIR": str(target)}
    argv = cargo_command(recipe.features, recipe.binaries, recipe.rust_toolchain)
    facts = {"command": " ".join(argv), "target_dir": str(target),
             "toolchain": _toolchain(where, env, recipe.rust_toolchain)}
    offset = log.stat().st_size if log.exists() else 0
    with _locked(target):
        _date_now(source)
        try:
            m = run_measured(argv, log_path=log, cwd=source, env=env, limits=recipe.limits)
        except ChildFailed as exc:
            if no_verdict(exc):
                raise
            if _mentions(log, offset, RUSTC_KILLED):
                raise ChildCrashed(f"cargo: rustc killed by signal SIGKILL {RUSTC_KILLED}",
                                   replace(exc.measurement, returncode=-9)) from None
            errors = compiler_errors(_lines_from(log, offset))
            details = {**facts, "errors": errors, "seconds": exc.measurement.wall_s if exc.measurement else None}
            (where / "cargo-errors.txt").write_text("\n".join(errors) + "\n")
            raise CargoBuildFailed(failure_reason(errors, exc.reason, exc.log_tail), details) from None
        kept = keep_binaries(target / "release", where / "bin", recipe.binaries)
    atomic_write_json(where / "cargo.json", {**facts, "seconds": m.wall_s, "cpu_s": m.cpu_s,
                                             "binaries": kept})
    return Build(framework=fw.name, revision=revision.sha, path=where, source=source,
                 version=revision.version, env=recipe.env)


def keep_binaries(release: Path, dest: Path, names: tuple[str, ...]) -> list[str]:
    """Copy the named binaries out of the shared target dir (the next commit's build overwrites them)."""

    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        built = release / name
        if not built.is_file():
            raise BuildError(f"cargo finished but built no binary {name!r} in {release}")
        shutil.copy2(built, dest / name)
    return list(names)


def compiler_errors(lines: str | Iterable[str]) -> list[str]:
    """Each `error[...]`/`error:` line of cargo's output and up to ERROR_CONTEXT lines after it; the lines
    are read one at a time (a log may be large), from a text or from an open file."""
    kept: list[str] = []
    block: list[str] = []  # the error being read, with its context so far
    for line in (lines.splitlines() if isinstance(lines, str) else lines):
        line = line.rstrip("\n")
        ends = not line.strip() or _ERROR_RE.match(line) or line.startswith("warning") or \
            len(block) > ERROR_CONTEXT
        if block and ends:
            kept += block
            block = []
        if len(kept) >= MAX_ERROR_LINES:
            break
        if _ERROR_RE.match(line) or block:
            block.append(line)
    return (kept + block)[:MAX_ERROR_LINES]


def failure_reason(errors: list[str], fallback: str, log_tail: str = "") -> str:
    """One line: what the machine lacks, where cargo's output shows it (`log_tail` holds the `Caused by`
    lines the error lines leave out), else the first compiler error, where it is, and how many there were."""
    lacks = machine_lacks("\n".join([*errors, log_tail]))
    if lacks:
        return f"cargo: {lacks}"
    heads = [e for e in errors if _ERROR_RE.match(e)]
    if not heads:
        return f"cargo: {fallback}"
    where = next((e.strip()[3:].strip() for e in errors if e.strip().startswith("-->")), "")
    count = sum(1 for e in heads if not e.startswith("error: could not compile"))
    text = f"cargo: {heads[0]}" + (f" at {where}" if where else "")
    return text + (f" ({count} errors, see cargo-errors.txt)" if count > 1 else "")


def machine_lacks(output: str) -> str | None:
    """What stopped cargo before any code was compiled: a rustup toolchain not installed, or dependencies
    out of reach (the host that did not resolve, where cargo names one); None for anything else."""
    missing = _NOT_INSTALLED_RE.search(output)
    if missing:
        name = missing.group(1)
        return f"rust toolchain {name} is not installed: rustup toolchain install {name}"
    if not _UNREACHABLE_RE.search(output):
        return None
    host = re.search(r"Could not resolve host: ([\w.-]+)", output)
    return ("dependencies unreachable: cargo could not fetch the crates registry or a git dependency"
            + (f" ({host.group(1)} did not resolve)" if host else "")
            + "; build where they are reachable, or vendor them (`cargo vendor`)")


def _plus(toolchain: str | None) -> list[str]:
    """rustup's toolchain override, `+nightly`, as the first argument of cargo or rustc."""
    return [f"+{toolchain}"] if toolchain else []


def _toolchain(where: Path, env: dict[str, str], toolchain: str | None) -> str:
    out = where / "rustc-version.txt"
    try:
        run_measured(["rustc", *_plus(toolchain), "--version"], log_path=out, env=env, limits=Limits(timeout_s=60))
    except ChildFailed as exc:
        return f"unknown ({exc.reason})"
    return out.read_text().splitlines()[-1].strip()


def _date_now(source: Path) -> None:
    """Every file of the checkout newer than anything in the shared target dir (see the module's note)."""
    for path in [source, *source.rglob("*")]:
        if not path.is_symlink():
            os.utime(path)


def _lines_from(path: Path, offset: int) -> Iterator[str]:
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            yield raw.decode(errors="replace")


def _mentions(path: Path, offset: int, text: str) -> bool:
    return any(text in line for line in _lines_from(path, offset))


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One build at a time in the shared dir, so the binary copied is the one this build made."""
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".tracker.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
