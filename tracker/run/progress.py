"""Where a long run is, and about how long is left: "[7/36] ezkl 23.0.5 28_6_16_10_5 [resources] proving;
about 21 min left".

A run of the whole matrix takes about an hour, a nightly or a bisection minutes to hours; a line that says
only "proving ..." leaves a user guessing. Each unit of work is one (framework, model, variant) proof of
one revision. What a unit will cost is read from the records of earlier runs (the stages' own wall time,
summed), else taken as the mean of the units of the same framework this run has done so far (an o1js proof
costs minutes where a circom one costs seconds: one framework's mean says nothing of another's). A framework
with neither is named as not counted ("about 12 min left, besides 3 o1js proofs never timed here") rather
than guessed; before anything is known the line gives no estimate. Plain lines, no terminal control codes,
so a log reads the same.
"""
from __future__ import annotations

import statistics
from collections import Counter
import time
from dataclasses import dataclass, field
from pathlib import Path

from tracker import records

Unit = tuple[str, str, str]   # (framework, model, variant)


def recorded_seconds(records_dir: Path, model: str, variant: str) -> float | None:
    """What the newest record of (model, variant) spent in its stages, wall seconds; None if none is kept."""
    paths = sorted(records_dir.glob(f"*/{model}--{variant}.json"), key=_mtime, reverse=True)[:3]
    for path in paths:
        rec = records.load(path)
        if rec is not None:
            spent = sum(s.child_wall_s for s in rec.stages.values())
            if spent > 0:
                return spent
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass
class Progress:
    """Counts the units of a run and estimates the time the pending ones will take."""

    pending: list[Unit] = field(default_factory=list)
    estimates: dict[Unit, float] = field(default_factory=dict)
    done: int = 0
    spent: dict[str, list[float]] = field(default_factory=dict)  # framework -> seconds of its units run
    clock: object = time.monotonic

    def plan(self, units: list[Unit], records_dir: Path) -> None:
        """Add a framework's units (one per revision, model and variant), with what the records say of each."""
        for unit in dict.fromkeys(units):  # each (framework, model, variant) looked up once, not per revision
            if unit not in self.estimates:
                seconds = recorded_seconds(records_dir, unit[1], unit[2])
                if seconds is not None:
                    self.estimates[unit] = seconds
        self.pending += units

    @property
    def total(self) -> int:
        return self.done + len(self.pending)

    def starting(self, unit: Unit, what: str) -> str:
        """The line for a unit about to run: its place in the run and the time left, this unit included."""
        left, unknown = self._left()
        eta = f"; about {_duration(left)} left" if left is not None else ""
        if eta and unknown:
            eta += f", besides {_untimed(unknown)} never timed here"
        return f"[{self.done + 1}/{max(self.total, self.done + 1)}] {what}{eta}"

    def finished(self, unit: Unit, seconds: float | None) -> None:
        """A unit is over: proved (its seconds count towards the estimate of the others) or read back."""
        if unit in self.pending:
            self.pending.remove(unit)
        self.done += 1
        if seconds is not None:
            self.spent.setdefault(unit[0], []).append(seconds)

    def dropped(self, units: list[Unit]) -> None:
        """Units that will not run after all (a revision that did not build): out of the count."""
        for unit in units:
            if unit in self.pending:
                self.pending.remove(unit)

    def left(self) -> float | None:
        """Seconds the pending units will take, or None while any of them has nothing to estimate from."""
        seconds, unknown = self._left()
        return None if unknown else seconds

    def _left(self) -> tuple[float | None, list[str]]:
        """Seconds the estimable pending units will take (None if none is), and the frameworks of the others."""
        typical = {fw: statistics.mean(s) for fw, s in self.spent.items() if s}
        known, unknown = [], []
        for unit in self.pending:
            seconds = self.estimates.get(unit, typical.get(unit[0]))
            if seconds is None:
                unknown.append(unit[0])
            else:
                known.append(seconds)
        return (float(sum(known)) if known else None), unknown


def _untimed(frameworks: list[str]) -> str:
    """'3 o1js and 2 noir proofs', for the units nothing can estimate."""
    named = [f"{n} {fw}" for fw, n in Counter(frameworks).items()]
    joined = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"{joined} proof{'s' if len(frameworks) > 1 else ''}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
