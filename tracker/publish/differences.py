"""The differences between frameworks, drawn from the figures: per model, each metric's best and the ratios.

The report this project comes from ends by marking the differences between proof systems and listing
pros and cons for the reader to decide. Here both come from the latest measured figures: for each model,
each compared metric's best row and every other row's ratio to it ("prove 3.2x", "proof 12x larger"); on
each framework's card, the metrics it is best or worst at among the frameworks run here, with the figure.
A framework with no figure for a metric neither wins nor loses it; with fewer than two frameworks measured
there is nothing to compare, and the page says so.

Machine-normalised CPU time: CPU seconds times the machine's modular multiplications per CPU second
(tracker.calibration), "modular multiplications' worth", so figures from two machines can be set side by
side; a guide, since provers bound by memory bandwidth do not scale with that rate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from tracker.metrics import BY_NAME, Metric
from tracker.publish.units import format_value, significant

# (metric, how a reader names it, the word for "more" where it is not time)
COMPARED = (("setup_time", "setup", "slower"), ("prove_time", "prove", "slower"),
            ("verify_time", "verify", "slower"), ("prove_cpu_time", "prove CPU", "more"),
            ("prove_peak_memory", "prove memory", "more"), ("proof_size", "proof", "larger"),
            ("vk_size", "verifying key", "larger"), ("accuracy_loss", "top-1 loss", "more"))
SUPERLATIVE = {"setup_time": ("fastest setup", "slowest setup"), "prove_time": ("fastest proving", "slowest proving"),
               "verify_time": ("fastest verification", "slowest verification"),
               "prove_cpu_time": ("least prove CPU time", "most prove CPU time"),
               "prove_peak_memory": ("least prover memory", "most prover memory"),
               "proof_size": ("smallest proofs", "largest proofs"),
               "vk_size": ("smallest verifying keys", "largest verifying keys"),
               "accuracy_loss": ("least accuracy lost to quantization", "most accuracy lost to quantization")}


@dataclass(frozen=True)
class Figure:
    """One row's figure for one metric: whose it is, and the value."""

    framework: str
    label: str       # framework [variant]
    value: float


@dataclass
class Difference:
    """One metric of one model: the best figure, and every other one's ratio to it (or gap, for a share)."""

    metric: Metric
    heading: str
    best: Figure
    others: list[tuple[Figure, str]] = field(default_factory=list)   # (figure, "3.2x slower")
    worst: Figure | None = None

    @property
    def tied(self) -> bool:
        """The best shares its place with another framework's figure: nobody is best at it."""
        return any(f.framework != self.best.framework and how == "same" for f, how in self.others)


def compare_metric(metric: Metric, heading: str, word: str, figures: Sequence[Figure]) -> Difference | None:
    """The best of `figures` (one framework at least twice is fine: variants) and the others against it;
    None with fewer than two frameworks, since a framework is never best against itself."""
    if len({f.framework for f in figures}) < 2:
        return None
    ordered = sorted(figures, key=lambda f: -f.value if metric.higher_is_better else f.value)
    best = ordered[0]
    diff = Difference(metric, heading, best, worst=ordered[-1])
    for fig in ordered[1:]:
        diff.others.append((fig, _against(metric, fig.value, best.value, word)))
    return diff


def _against(metric: Metric, value: float, best: float, word: str) -> str:
    """How far a figure is from the best: a ratio where the best is above zero, else the gap itself."""
    if metric.unit == "fraction":
        return f"+{significant((value - best) * 100)} points"
    if best > 0:
        ratio = value / best
        return "same" if ratio < 1.005 else f"{significant(ratio)}x {word}"
    return f"{format_value(value, metric.unit)} against {format_value(best, metric.unit)}"


def model_differences(rows) -> list[Difference]:
    """Every compared metric of one model section's measured rows (tracker.publish.site.Row)."""
    out = []
    for name, heading, word in COMPARED:
        figures = [Figure(r.framework, r.label, r.cells[name].value) for r in rows
                   if r.ok and name in r.cells and r.cells[name].value is not None]
        diff = compare_metric(BY_NAME[name], heading, word, figures)
        if diff is not None:
            out.append(diff)
    return out


def measured_pros_cons(framework: str, sections: dict[str, list[Difference]]) -> tuple[list[str], list[str]]:
    """A framework's pros and cons from the figures: each metric it is best (or worst) at, with the models
    and the figure; said only where it is best or worst on every model where the metric was compared."""
    pros, cons = [], []
    for name, _, _ in COMPARED:
        compared = [(model, d) for model, diffs in sections.items() for d in diffs if d.metric.name == name]
        if not compared:
            continue
        mine_best = [(m, d.best) for m, d in compared if d.best.framework == framework and not d.tied]
        mine_worst = [(m, d.worst) for m, d in compared if d.worst and d.worst.framework == framework
                      and d.worst.value != d.best.value]
        good, bad = SUPERLATIVE[name]
        unit = BY_NAME[name].unit
        if len(mine_best) == len(compared):
            pros.append(_claim(good, mine_best, unit))
        elif len(mine_worst) == len(compared):
            cons.append(_claim(bad, mine_worst, unit))
    return pros, cons


def _claim(what: str, figures: list[tuple[str, Figure]], unit: str) -> str:
    shown = ", ".join(f"{model} {format_value(f.value, unit)}" for model, f in figures[:3])
    more = f" and {len(figures) - 3} more" if len(figures) > 3 else ""
    return f"{what} of the frameworks run here ({shown}{more})"


def normalised_cpu(cpu_s: float | None, calibration: dict) -> float | None:
    """CPU seconds times the machine's BN254 multiplications per CPU second: multiplications' worth, or None
    where the record's machine has no calibration."""
    try:
        rate = float(calibration["mmops"]["bn254_fr"]["per_cpu_second"]["median"]) * 1e6
    except (KeyError, TypeError, ValueError):
        return None
    return None if cpu_s is None else cpu_s * rate


def format_modmuls(value: float | None) -> str:
    """A count of modular multiplications for a cell, with its unit so it is never read as seconds: 12.3 G mul."""
    if value is None:
        return "–"
    for scale, name in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{significant(value / scale)} {name}mul"
    return f"{significant(value)} mul"
