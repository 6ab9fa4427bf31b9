"""Re-measuring revisions: fresh records of a framework's revisions, run interleaved, kept apart from the
run's own. The run layer's service for everything that measures again: a verdict's confirmation
(tracker.report.confirm), bisect's probes and compare's two revisions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tracker.records import ModelResult, Status
from tracker.run.context import FrameworkContext
from tracker.run.job import JobDirs, RevisionJob
from tracker.run.pipeline import prove_revision


class Remeasurer:
    """Fresh records of one framework's revisions, kept apart from the run's own."""

    def __init__(self, ctx: FrameworkContext):
        self.ctx = ctx
        self.config, self.layout, self.fw, self.say = ctx.config, ctx.layout, ctx.fw, ctx.say
        self._builds: dict[str, object] = {}

    def revision(self, name: str):
        return self.ctx.history.resolve(name)

    def build(self, sha: str):
        """The revision's build (from the build cache when made before), or None if it does not build."""
        if sha not in self._builds:
            revision = self.revision(sha)
            built = self.ctx.build(revision)
            if built.build is None:
                self.say(f"{self.fw.name} {revision.label}: does not build: {built.reason}")
            self._builds[sha] = built.build
        return self._builds[sha]

    def measure(self, sha: str, model: str, variant: str, into: Path) -> ModelResult | None:
        """Run the revision's pipeline for one (model, variant) again; its record goes under `into`."""
        build = self.build(sha)
        if build is None:
            return None
        dirs = JobDirs(into, self.layout.cache / "work" / self.fw.name / f"remeasure-{sha[:16]}", self.layout.cache)
        job = RevisionJob(self.fw, build, [model], [variant], dirs, repeats=self.config.repeats, force=True,
                          remeasure=True)
        return prove_revision(job, say=lambda line: None)[0]


def interleaved(m: Remeasurer, shas: Sequence[str], model: str, variant: str, rounds: int,
                into: Path, first: int = 1) -> dict[str, list[ModelResult]]:
    """Each revision `rounds` times, in turn, the order reversed every other round (A B, B A, ...: a load
    that grows or fades falls on both alike); the records of each, round by round (numbered from `first`)."""
    out: dict[str, list[ModelResult]] = {sha: [] for sha in shas}
    for i in range(first, first + rounds):
        for sha in (shas if i % 2 else list(reversed(shas))):
            rec = m.measure(sha, model, variant, into / f"round-{i}")
            if rec is not None and rec.status == Status.OK:
                out[sha].append(rec)
            m.say(f"  {m.fw.name} {model} [{variant}] round {i}/{first + rounds - 1} {m.revision(sha).label}: "
                  f"{rec.status if rec else 'no build'}")
    return out
