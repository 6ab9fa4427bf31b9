"""A revision's run, written to a file the asv benchmarks read (asv passes only environment variables on).

The tracker writes one `RevisionJob` per revision and points `ZKML_TRACKER_JOB` at it before calling
`asv run`; the suite in `benchmarks/` reads it back to know what it measures. The job carries the whole
framework as the run resolved it from frameworks.yaml, not its name: asv's child proves with exactly the
settings, stages and limits the tracker keyed the records with, and does not read frameworks.yaml again
(which may have changed since the run began). The format carries a version, like everything the tracker
writes, and is written and read by tracker.serial.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tracker import records
from tracker.fsutil import atomic_write_json, read_json
from tracker.layout import Layout
from tracker.serial import from_json, to_json
from tracker.types import Build, Framework
from tracker.store.paths import FrameworkStore

JOB_VERSION = 3  # 2: record keys; 3: the resolved framework and its build, no config path
JOB_ENV = "ZKML_TRACKER_JOB"


@dataclass(frozen=True)
class JobDirs:
    """Where a revision job keeps its records, its scratch work, and the cache its stages share (SRS, ptau)."""

    records: Path
    work: Path
    cache: Path

    @classmethod
    def of_run(cls, layout: Layout, framework: str, revision: str) -> "JobDirs":
        """A run's: its records where `list`, the report and the site read them."""
        return cls(FrameworkStore(layout, framework).records, layout.cache / "work" / framework / revision[:16], layout.cache)


@dataclass
class RevisionJob:
    """Every (model, variant) of one build of `framework`. The revision is the build's; the record key of
    each variant comes from the framework, so no job can be made without them."""

    framework: Framework
    build: Build
    models: list[str]
    variants: list[str]
    dirs: JobDirs
    repeats: int = 3
    eval_count: int | None = None
    force: bool = False
    remeasure: bool = False  # for a verdict (confirm, bisect, compare): measured stages never read back

    def __post_init__(self) -> None:
        if self.build.framework != self.framework.name:
            raise ValueError(f"a build of {self.build.framework} given to a job of {self.framework.name}")
        for name in self.variants:
            self.framework.variant(name)  # a clear KeyError for a variant the framework does not have

    @property
    def revision(self) -> str:
        return self.build.revision

    def record_key(self, variant: str) -> str:
        return records.record_key(self.framework, variant)

    def save(self, path: Path) -> Path:
        atomic_write_json(path, {"version": JOB_VERSION, **to_json(self)})
        return path

    @classmethod
    def load(cls, path: Path) -> "RevisionJob":
        """The job in `path`; one line naming the file when it is of another version or does not fit."""
        data = read_json(path)
        if not isinstance(data, dict) or data.get("version") != JOB_VERSION:
            found = data.get("version") if isinstance(data, dict) else None
            raise ValueError(f"{path}: not a revision job of version {JOB_VERSION} (found version {found!r}); "
                             f"run the tracker again to write it")
        try:
            return from_json(cls, {k: v for k, v in data.items() if k != "version"})
        except (ValueError, KeyError) as exc:  # SerialError is a ValueError
            raise ValueError(f"{path}: {exc.args[0] if exc.args else exc}") from None

    @classmethod
    def from_env(cls) -> "RevisionJob | None":
        path = os.environ.get(JOB_ENV)
        return cls.load(Path(path)) if path else None
