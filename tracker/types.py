"""The tracker's shared vocabulary: what a framework is, a build, a job, and a build that cannot be made.

Both sides of the tracker use these: the config loader makes Frameworks, the adapters take Jobs and make
Builds, the build layer raises BuildError. They live here, with no dependency on either side, so that no
module needs another's lazy import to reach them.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tracker import calibration
from tracker.measure import Limits
from tracker.records import ModelResult, machine_info


# every line the tracker tells its user goes through one of these (print, or a test's list.append)
Say = Callable[[str], None]


class BuildError(Exception):
    """A build that cannot be made for a reason other than a failing command."""


class Unsupported(ValueError):
    """A model an adapter cannot write for its framework (a layer, a shape): recorded as unsupported."""


@dataclass(frozen=True)
class Package:
    """A package whose registry releases are a framework's history."""

    registry: str
    name: str


@dataclass(frozen=True)
class Selection:
    """Which revisions `run` takes when the command line does not say."""

    latest: int | None = None
    pinned: tuple[str, ...] = ()
    range: str | None = None
    steps: int | None = None
    nightly_max: int = 5


@dataclass(frozen=True)
class HistorySpec:
    """Where a framework's revisions come from, as frameworks.yaml says (the opened repository is
    `tracker.history.History`)."""

    kind: str
    package: Package | None = None
    branch: str = "main"
    select: Selection = Selection()


# A first cargo build compiles every dependency (29 min for zkTorch on 2 shared cores); 8 MiB of log keeps
# a compiler's first and last errors without letting a chatty build fill the cache.
BUILD_LIMITS = Limits(timeout_s=3 * 3600, memory_mb=16384, log_mb=8)
SUITE_NAMES = ("tiny", "standard")  # the model zoo's suites: tiny (seconds a framework), standard (the MNIST nets)


@dataclass(frozen=True)
class BuildRecipe:
    """How a revision becomes something runnable. `requirements` and `commands` may use {version}/{sha}."""

    kind: str
    requirements: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    toolchains: tuple[str, ...] = ()
    python: str | None = None
    features: tuple[str, ...] = ()   # cargo: `--features`
    binaries: tuple[str, ...] = ()   # cargo: the `--bin` targets kept with each revision's build
    rust_toolchain: str | None = None  # cargo: the rustup toolchain it builds with (`cargo +nightly`)
    limits: Limits = BUILD_LIMITS    # the whole build's timeout, memory cap and log cap; not in its hash


@dataclass(frozen=True)
class Variant:
    """A named setting of a framework, tracked as its own series."""

    name: str
    settings: tuple[tuple[str, Any], ...] = ()
    limits: Limits | None = None  # where a variant needs other limits than its framework's

    def as_dict(self) -> dict[str, Any]:
        return dict(self.settings)


@dataclass(frozen=True)
class Framework:
    name: str
    adapter: str
    proof_system: str
    setup_kind: str
    model_format: str
    repo: str | None
    history: HistorySpec
    build: BuildRecipe
    variants: tuple[Variant, ...]
    limits: Limits
    pros: tuple[str, ...] = ()
    cons: tuple[str, ...] = ()
    stages: tuple[tuple[str, str], ...] = ()
    default_job: bool = True  # false: `run` without --framework leaves it out (a framework too slow for it)
    line: int = 0

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"framework {self.name} has no variant {name!r}; it has {', '.join(self.variant_names)}")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)


@dataclass(frozen=True)
class Toolchain:
    """An executable a framework needs on PATH, and one line on how to get it."""

    name: str
    command: str
    install_hint: str

    def present(self) -> bool:
        return shutil.which(self.command) is not None


@dataclass(frozen=True)
class Build:
    """A revision made runnable: where it lives and how to call it. `python`/`node_prefix` as the kind needs."""

    framework: str
    revision: str
    path: Path
    python: Path | None = None
    node_prefix: Path | None = None
    source: Path | None = None
    version: str | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModelJob:
    """One model under one variant on one build, and where to put what it makes."""

    framework: Framework
    build: Build
    model: Any  # tracker.models.zoo.Model
    variant: Variant
    workdir: Path
    cache_dir: Path
    repeats: int = 3
    eval_count: int | None = None
    limits: Limits = Limits()
    remeasure: bool = False  # for a verdict: the measured stages run afresh, none is read back from the cache

    def new_result(self) -> ModelResult:
        machine = machine_info()
        return ModelResult(self.framework.name, self.build.revision, self.model.name, self.variant.name,
                           settings=dict(self.variant.settings), machine=machine,
                           calibration=calibration.current(machine, measure=False).summary())
