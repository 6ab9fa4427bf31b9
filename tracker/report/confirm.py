"""Confirmation: a timing candidate is re-measured before anyone is told, its two revisions interleaved.

The revision before the step (A) and the suspect (B) are run again A B A B ... (`rounds` of each) on this
machine in this run, through the same build cache, adapter and pipeline as any run. Whatever slows the
machine down while they run (a neighbour, a warm or cold cache) falls on both alike, so a change that stays
is the revision's. The fresh records go to their own directory (results/<fw>/remeasure/...), never over
the records of the run, and each verdict is kept in results/<fw>/confirmations.json (versioned, written
atomically), so the next nightly does not measure the same pair again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from tracker.config import Config
from tracker.fsutil import atomic_write_json, read_json
from tracker.history import HistoryError
from tracker.layout import Layout
from tracker.metrics import METRICS, samples
from tracker.records import ModelResult, Status
from tracker.report.stats import compare
from tracker.report.verdict import Change, Settings
from tracker.run.context import FrameworkContext, NotReady, open_to_measure
from tracker.run.job import JobDirs, RevisionJob
from tracker.run.pipeline import prove_revision
from tracker.types import Say

CONFIRMATIONS_VERSION = 1


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
                into: Path) -> dict[str, list[ModelResult]]:
    """Each revision `rounds` times, in turn (A B A B ...); the records of each, round by round."""
    out: dict[str, list[ModelResult]] = {sha: [] for sha in shas}
    for i in range(1, rounds + 1):
        for sha in shas:
            rec = m.measure(sha, model, variant, into / f"round-{i}")
            if rec is not None and rec.status == Status.OK:
                out[sha].append(rec)
            m.say(f"  {m.fw.name} {model} [{variant}] round {i}/{rounds} {m.revision(sha).label}: "
                  f"{rec.status if rec else 'no build'}")
    return out


def pooled(metric, recs: Sequence[ModelResult]) -> list[float]:
    return [x for r in recs for x in samples(metric, r)]


def judge(good: Sequence[ModelResult], bad: Sequence[ModelResult], settings: Settings) -> dict[str, dict]:
    """Every measured metric of a re-measured pair: confirmed when `bad` is slower (larger) by at least the
    minimum effect and a one-sided Mann-Whitney test on the pooled samples gives p below confirm_alpha."""
    out = {}
    for metric in METRICS:
        if not metric.measured:
            continue
        a, b = pooled(metric, good), pooled(metric, bad)
        if not a or not b:
            continue
        c = compare(a, b, alternative="greater")
        big = c.ratio > 0 and math.isfinite(c.ratio) and math.log(c.ratio) >= math.log1p(settings.effect(metric))
        verdict = "confirmed" if big and c.p_value < settings.confirm_alpha else "not_confirmed"
        out[metric.name] = {"verdict": verdict, **c.to_json()}
    return out


# --- the store -----------------------------------------------------------------------------------------------

def confirmations_path(layout: Layout, framework: str) -> Path:
    return layout.results / framework / "confirmations.json"


def load_confirmations(path: Path) -> dict[str, dict]:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("version") != CONFIRMATIONS_VERSION:
        return {}
    return data.get("pairs", {})


def remember(path: Path, key: str, entry: dict) -> None:
    pairs = load_confirmations(path)
    pairs[key] = entry
    atomic_write_json(path, {"version": CONFIRMATIONS_VERSION, "pairs": pairs})


@dataclass
class Pair:
    framework: str
    model: str
    variant: str
    good: str
    bad: str
    key: str


def pairs_to_confirm(changes: Sequence[Change], limit: int) -> list[Pair]:
    """The pairs of the unconfirmed timing regressions, newest suspect last in, at most `limit`."""
    seen: dict[str, Pair] = {}
    for c in changes:
        if c.status == "candidate" and c.worse and not c.remeasured and c.pair not in seen:
            seen[c.pair] = Pair(c.framework, c.model, c.variant, c.good.sha, c.bad.sha, c.pair)
    return list(seen.values())[-limit:]


def confirm_pair(m: Remeasurer, pair: Pair, settings: Settings) -> dict | None:
    """Re-measure one pair interleaved, judge it, remember the verdict; None if it could not be measured."""
    into = m.layout.results / pair.framework / "remeasure" / f"{pair.good[:8]}-{pair.bad[:8]}" / \
        f"{pair.model}--{pair.variant}"
    m.say(f"{pair.framework} {pair.model} [{pair.variant}]: confirming {m.revision(pair.good).label} -> "
          f"{m.revision(pair.bad).label}, {settings.rounds} interleaved round(s)")
    got = interleaved(m, [pair.good, pair.bad], pair.model, pair.variant, settings.rounds, into)
    if not got[pair.good] or not got[pair.bad]:
        m.say(f"{pair.framework} {pair.model} [{pair.variant}]: could not be re-measured; stays a candidate")
        return None
    entry = {"rounds": settings.rounds, "records": str(into),
             "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "metrics": judge(got[pair.good], got[pair.bad], settings)}
    remember(confirmations_path(m.layout, pair.framework), pair.key, entry)
    return entry


def confirm_candidates(config: Config, layout: Layout, changes: Sequence[Change], settings: Settings,
                       say: Say = print) -> int:
    """Confirm every new timing candidate among `changes`; the number of pairs re-measured."""
    done = 0
    by_framework: dict[str, list[Pair]] = {}
    for pair in pairs_to_confirm(changes, settings.confirm_max):
        by_framework.setdefault(pair.framework, []).append(pair)
    for name, pairs in by_framework.items():
        try:
            m = Remeasurer(open_to_measure(config, layout, config.framework(name), say))
        except (HistoryError, NotReady) as exc:
            say(f"{name}: cannot confirm: {exc}")
            continue
        done += sum(confirm_pair(m, pair, settings) is not None for pair in pairs)
    return done
