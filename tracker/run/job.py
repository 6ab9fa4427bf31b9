"""A revision's run: one build of a framework, the models and variants to prove, and where records go.

The job carries the whole framework as the run resolved it from frameworks.yaml, not its name: the pipeline
proves with exactly the settings, stages and limits the records are keyed with (tracker.records.record_key),
whether for a run, a confirmation, a bisection or a comparison.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker import records
from tracker.layout import Layout
from tracker.types import Build, Framework
from tracker.store.paths import FrameworkStore



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
