"""What the verdict engine judges by and what it says: the settings of a verdict, one revision's values of a
metric (`Point`), and a change between two neighbouring revisions (`Change`), with what the framework chose
differently there.

Apart from the engine that finds the changes (tracker.report.verdict, with tracker.report.segment), and
from the search around a step not confirmed at its pair (tracker.report.search): both make and read these.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tracker import records
from tracker.config import ConfigError
from tracker.metrics import Metric
from tracker.report.stats import Comparison

SETTINGS_KEY = "tracker_verdicts"
# minimum effects, as a fraction of the old value; why these numbers: README "How a verdict is made"
DEFAULT_MIN_EFFECT = {"wall_time": 0.15, "cpu_time": 0.10, "memory": 0.10}
NOT_CHOSEN = frozenset({"calibration_data", "calibration_samples"})  # inputs of the run, not the framework's choices


@dataclass(frozen=True)
class Settings:
    """How sure a verdict must be; from the "tracker_verdicts" table of asv.conf.json."""

    min_effect: dict = field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))
    # the records only choose what to re-measure (a candidate is never reported before its re-measurement,
    # tracker.report.confirm, decides at confirm_alpha), so their test screens rather than decides: a step
    # the records show at p < 0.05 is worth the rounds; a stricter screen loses real steps of a noisy metric
    # (a run's own offset spreads wall time by 0.29 here) before anyone re-measures them
    detect_alpha: float = 0.05
    # a nightly re-measures many pairs that did not move (the screen above lets a few in each night, and a
    # run or two at either end of a series cannot tell a step from its load), so the rise it reports must be
    # surer than one pair alone would need: the corpus re-measures some 1,250 such pairs for every 500 real
    # steps, and at 0.005 wall time's precision was 97.2 % on seed 2 (docs/verdicts.md)
    confirm_alpha: float = 0.003
    # a question a user asks of one pair (compare, and bisect's ends and probes) has no such multitude
    asked_alpha: float = 0.01
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
                              ("asked_alpha", _fraction, "a fraction between 0 and 1"),
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
    disagreement: str | None = None  # beside a wall-time change: why its wall samples are not to be trusted
    stretched: bool = False  # ... and whether they were stretched (spread far above the CPU samples')
    needs: int | None = None  # too early: how many more revisions would decide (None: only a re-measurement)
    neighbours: list = field(default_factory=list)  # pairs up to two revisions off where the step could be (Point, Point)
    reach: list = field(default_factory=list)  # (offset, Point, Point, plausible): pairs up to SIDE_REACH off, best first
    span: tuple | None = None  # (Point, Point): the revisions either end of its reach, re-measured as one pair
    pending: list = field(default_factory=list)  # pairs still to re-measure before this change is settled
    moved_from: str | None = None  # the pair it was first placed at, when a neighbour was confirmed instead
    from_cpu: bool = False  # a wall-time step looked for where the same stage's CPU time stepped
    cpu_stepped: bool = False  # a wall-time step whose pair is also where the same stage's CPU time rose
    from_span: bool = False  # looked for inside a span that rose, re-measured, beyond every step found in it
    quiet: frozenset = frozenset()  # pairs inside a span of this metric re-measured that did not rise (`quiet_pairs`)
    note: str = ""  # what a reader must know besides the figures: too early to tell, and why
    recs: dict = field(default_factory=dict, repr=False)  # sha -> record, for what the framework chose

    @property
    def explained(self) -> list[str]:
        """What the framework chose differently at this commit (measured steps only)."""
        if not self.metric.measured:
            return []
        return explain(self.recs.get(self.good.sha), self.recs.get(self.bad.sha))

    @property
    def worse(self) -> bool:
        """Lower is better, but for the metrics that say otherwise (the accuracies against true labels)."""
        if self.status == "confirmed" and self.confirmation:  # a re-measurement confirms a rise only
            rose = self.confirmation.get("ratio", 1.0) > 1
        elif self.from_span:  # a rise was measured across its span; its own pair is what is looked at
            rose = not self.metric.higher_is_better
        elif self.comparison is not None:
            rose = self.comparison.ratio > 1
        else:
            rose = self.bad.values[0] > self.good.values[0]
        return rose != self.metric.higher_is_better

    @property
    def screened_rise(self) -> bool:
        """Whether what chose this pair for re-measuring was a rise: its own records' step, or for a wall-time
        change, the CPU time's rise over the same pair (one run a side can show a 1.7x wall step as a fall). A confirmation tests a rise, and a pair is re-measured for every metric at once, so a metric
        whose records fell is tested there without having been chosen: its "rise" is not evidence."""
        return self.from_cpu or self.cpu_stepped or self.from_span or \
            (self.comparison is not None and self.comparison.ratio > 1)

    @property
    def pair(self) -> str:
        return pair_key(self.model, self.variant, self.good.sha, self.bad.sha)


def pair_key(model: str, variant: str, good: str, bad: str) -> str:
    return f"{model}|{variant}|{good}|{bad}"


def explain(good: records.ModelResult | None, bad: records.ModelResult | None) -> list[str]:
    """What the framework chose differently at the bad revision (settings it used, circuit size): "logrows
    15 -> 16". The first thing a framework's author asks of a step."""
    if good is None or bad is None:
        return []
    out = []
    for table in ("settings", "circuit"):
        a, b = getattr(good, table), getattr(bad, table)
        for name in sorted(set(a) | set(b)):
            if name not in NOT_CHOSEN and a.get(name) != b.get(name):
                out.append(f"{name.removeprefix('used_')} {_setting(a.get(name))} -> {_setting(b.get(name))}")
    return out


def _setting(value) -> str:
    if value is None:
        return "none"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000 \
        else str(value)
