"""The verdict engine: where a metric changed along a framework's history, judged by the metric's kind.

The series come from the tracker's own records (results/<fw>/records/<sha>/<model>--<variant>.json), never
from the published site: every sample of every stage is there, not one number per commit.

- A deterministic metric (sizes, logrows, constraints, accuracy) changes where two neighbouring revisions
  give different values: reported at that commit, before and after, whatever the size.
- A measured metric (wall or CPU time of a stage, peak memory) has a step at commit k when the samples of
  the revisions just before k and just after it differ by at least the minimum effect of the metric's family
  and a Mann-Whitney U test on those samples gives p below `detect_alpha`. Steps are found by binary
  segmentation: the most significant boundary of the series first, then each side again, so windows never
  reach across a step already found. Such a step is a candidate; only re-measuring the pair interleaved on
  one machine (tracker.report.confirm) turns it into a regression.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tracker import records
from tracker.config import ConfigError
from tracker.fsutil import read_json
from tracker.metrics import METRICS, Metric, samples
from tracker.report.stats import Comparison, compare, mann_whitney
from tracker.run.state import history_order

SETTINGS_KEY = "tracker_verdicts"
# minimum effects, as a fraction of the old value; why these numbers: README "How a verdict is made"
DEFAULT_MIN_EFFECT = {"wall_time": 0.15, "cpu_time": 0.10, "memory": 0.10}
WINDOW_SAMPLES = 9      # gather revisions either side of a boundary until this many samples ...
WINDOW_REVISIONS = 8    # ... or this many revisions


@dataclass(frozen=True)
class Settings:
    """How sure a verdict must be; from the "tracker_verdicts" table of asv.conf.json."""

    min_effect: dict = field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))
    detect_alpha: float = 0.005
    confirm_alpha: float = 0.01
    rounds: int = 5
    confirm_max: int = 10

    def effect(self, metric: Metric) -> float:
        return float(self.min_effect.get(metric.effect, 0.10))


def load_settings(shared_config: Path) -> Settings:
    """The verdict settings of the shared asv.conf.json; one clear error naming the field if one is wrong."""
    from tracker.run.asv import read_shared_config

    if not shared_config.exists():  # the defaults; asv itself will ask for the file when it runs
        return Settings()
    table = read_shared_config(shared_config).get(SETTINGS_KEY, {})
    if not isinstance(table, dict):
        raise ConfigError(shared_config, None, SETTINGS_KEY, "must be a table")
    defaults = Settings()
    effects = table.get("min_effect", {})
    if not isinstance(effects, dict) or not all(k in DEFAULT_MIN_EFFECT and _fraction(v) for k, v in effects.items()):
        raise ConfigError(shared_config, None, f"{SETTINGS_KEY}.min_effect",
                          f"a table of {', '.join(DEFAULT_MIN_EFFECT)} to fractions between 0 and 1")
    values = {}
    for name, check, hint in (("detect_alpha", _fraction, "a fraction between 0 and 1"),
                              ("confirm_alpha", _fraction, "a fraction between 0 and 1"),
                              ("rounds", _count, "a whole number of at least 1"),
                              ("confirm_max", _count, "a whole number of at least 1")):
        if name in table:
            if not check(table[name]):
                raise ConfigError(shared_config, None, f"{SETTINGS_KEY}.{name}", f"must be {hint}")
            values[name] = table[name]
    unknown = set(table) - {"min_effect", *values}
    if unknown:
        raise ConfigError(shared_config, None, f"{SETTINGS_KEY}.{sorted(unknown)[0]}", "unknown setting")
    return Settings({**defaults.min_effect, **effects}, **values)


def _fraction(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


@dataclass(frozen=True)
class Point:
    """One revision's values of one metric: the samples of a timing, or the one number."""

    sha: str
    values: tuple[float, ...]


@dataclass
class Change:
    """A metric moved between two neighbouring measured revisions, `good` then `bad`."""

    framework: str
    model: str
    variant: str
    metric: Metric
    good: Point
    bad: Point
    comparison: Comparison | None = None   # measured metrics only
    status: str = "changed"  # deterministic: changed; measured: candidate, confirmed, not_confirmed
    confirmation: dict | None = None
    remeasured: bool = False  # its pair was measured again (a metric with no fresh samples stays a candidate)
    cpu_ratio: float | None = None  # beside a wall-time change: the same stage's CPU time, same pair

    @property
    def worse(self) -> bool:
        """Lower is better, but for the metrics that say otherwise (the accuracies against true labels)."""
        if self.comparison is not None:
            rose = self.comparison.ratio > 1
        else:
            rose = self.bad.values[0] > self.good.values[0]
        return rose != self.metric.higher_is_better

    @property
    def pair(self) -> str:
        return pair_key(self.model, self.variant, self.good.sha, self.bad.sha)


def pair_key(model: str, variant: str, good: str, bad: str) -> str:
    return f"{model}|{variant}|{good}|{bad}"


# --- series ----------------------------------------------------------------------------------------------

def revision_order(results_dir: Path) -> list[str]:
    """The framework's revisions that were run, oldest first along the branch (as the site orders them),
    whatever the commit dates say."""
    known = (read_json(results_dir / "revisions.json") or {}).get("revisions", {})
    return sorted(known, key=lambda sha: history_order(known[sha]))


def load_series(records_dir: Path, order: Sequence[str],
                unreadable: list[Path] | None = None) -> dict[tuple[str, str], list[records.ModelResult]]:
    """(model, variant) -> its records in history order; the records that could not be read into `unreadable`."""
    out: dict[tuple[str, str], list[records.ModelResult]] = {}
    for sha in order:
        for rec in records.load_revision(records_dir, sha, unreadable):
            out.setdefault((rec.model, rec.variant), []).append(rec)
    return out


def points(metric: Metric, recs: Sequence[records.ModelResult]) -> list[Point]:
    return [Point(r.revision, tuple(v)) for r in recs if (v := samples(metric, r))]


# --- finding changes ---------------------------------------------------------------------------------------

def deterministic_changes(series: list[Point]) -> list[int]:
    """Indices k where series[k] differs from series[k - 1]: every change, whatever its size."""
    return [k for k in range(1, len(series)) if series[k].values[0] != series[k - 1].values[0]]


def measured_steps(series: list[Point], min_effect: float, alpha: float) -> list[tuple[int, Comparison]]:
    """Steps by binary segmentation, each significant on the samples either side; oldest first."""
    found: list[tuple[int, Comparison]] = []
    pending = [(0, len(series))]
    while pending:
        lo, hi = pending.pop()
        best = _best_boundary(series, lo, hi, min_effect, alpha)
        if best is not None:
            found.append(best)
            pending += [(lo, best[0]), (best[0], hi)]
    return sorted(found, key=lambda s: s[0])


def _best_boundary(series: list[Point], lo: int, hi: int, min_effect: float,
                   alpha: float) -> tuple[int, Comparison] | None:
    """The boundary in [lo, hi) whose two sides differ most surely (smallest p, then largest effect)."""
    best, best_key = None, None
    threshold = math.log1p(min_effect)
    for k in range(lo + 1, hi):
        before, after = _window(series, k - 1, lo - 1, -1), _window(series, k, hi, 1)
        effect = _log_ratio(before, after)
        if effect < threshold:
            continue
        p = mann_whitney(before, after)
        if p < alpha and (best_key is None or (p, -effect) < best_key):
            best, best_key = k, (p, -effect)
    if best is None:
        return None
    return best, compare(_window(series, best - 1, lo - 1, -1), _window(series, best, hi, 1))


def _log_ratio(before: list[float], after: list[float]) -> float:
    """|log(median(after) / median(before))|, 0 where it has no meaning."""
    a, b = statistics.median(before), statistics.median(after)
    return abs(math.log(b / a)) if a > 0 and b > 0 else 0.0


def _window(series: list[Point], start: int, stop: int, step: int) -> list[float]:
    """Samples of the revisions from `start` outwards (towards `stop`) until there are enough."""
    out: list[float] = []
    for i in range(start, stop, step)[:WINDOW_REVISIONS]:
        out += series[i].values
        if len(out) >= WINDOW_SAMPLES:
            break
    return out


def changes_of(framework: str, recs: Sequence[records.ModelResult], settings: Settings) -> list[Change]:
    """Every change of every metric in one (model, variant) series."""
    if not recs:
        return []
    model, variant = recs[0].model, recs[0].variant
    out = []
    every = {metric.name: points(metric, recs) for metric in METRICS}
    for metric in METRICS:
        series = every[metric.name]
        if metric.measured:
            for k, c in measured_steps(series, settings.effect(metric), settings.detect_alpha):
                out.append(Change(framework, model, variant, metric, series[k - 1], series[k], c, "candidate"))
        else:
            for k in deterministic_changes(series):
                out.append(Change(framework, model, variant, metric, series[k - 1], series[k]))
    for change in out:
        change.cpu_ratio = cpu_beside(change, every)
    return out


def cpu_beside(change: Change, every: dict[str, list[Point]]) -> float | None:
    """For a wall-time change, how the same stage's CPU time moved over the same pair: a wall step with CPU
    time unchanged is what a neighbour (or waiting) looks like, a CPU step is the prover's own work."""
    cpu = next((m for m in METRICS if m.effect == "cpu_time" and m.stage == change.metric.stage), None)
    if change.metric.effect != "wall_time" or cpu is None:
        return None
    values = {p.sha: p.values for p in every.get(cpu.name, [])}
    before, after = values.get(change.good.sha), values.get(change.bad.sha)
    if not before or not after or statistics.median(before) <= 0:
        return None
    return statistics.median(after) / statistics.median(before)


def framework_changes(framework: str, results_dir: Path, settings: Settings, confirmations: dict[str, dict],
                      order: Sequence[str] | None = None, unreadable: list[Path] | None = None) -> list[Change]:
    """Every change in a framework's records, timing candidates marked with their confirmation if made.
    `order` as the reader checked it (tracker.run.state.StateRead), else revisions.json as it is."""
    order = revision_order(results_dir) if order is None else order
    out = []
    for recs in load_series(results_dir / "records", order, unreadable).values():
        for change in changes_of(framework, recs, settings):
            apply_confirmation(change, confirmations.get(change.pair))
            out.append(change)
    return out


def apply_confirmation(change: Change, pair: dict | None) -> None:
    """A candidate whose pair was re-measured takes that verdict for its metric."""
    if change.status != "candidate" or not pair:
        return
    change.remeasured = True
    judged = pair.get("metrics", {}).get(change.metric.name)
    if judged is None:  # no fresh samples: the stage was read back from the stage cache, or failed
        return
    change.status = judged["verdict"]
    change.confirmation = {**judged, "rounds": pair.get("rounds"), "measured": pair.get("measured")}
    cpu = next((m for m in METRICS if m.effect == "cpu_time" and m.stage == change.metric.stage), None)
    if change.metric.effect == "wall_time" and cpu is not None and cpu.name in pair.get("metrics", {}):
        change.cpu_ratio = pair["metrics"][cpu.name]["ratio"]
