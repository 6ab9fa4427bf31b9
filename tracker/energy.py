"""Energy of a stage, where the machine tells it: the package counters of Linux powercap (Intel / AMD RAPL).

Each package zone (`/sys/class/powercap/intel-rapl:N`) has a cumulative `energy_uj` counter that wraps at
`max_energy_range_uj`. A `Meter` reads every package zone before and after a stage; the joules are the sum
of the differences, a wrap counted once (a stage shorter than a wrap period, minutes at full power, cannot
wrap twice unseen). The figure is the whole package's energy while the stage ran, a neighbour's included:
on a shared machine read it with the CPU time beside it.

Where no counter is readable (virtual machines, these build machines included; or a kernel that lets only
root read it, since Linux 5.10) the stage says "not measured here" and why: never a modelled number
presented as a measurement.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
ROOT_ENV = "ZKML_TRACKER_POWERCAP"  # another root laid out like powercap (tests; a machine that mounts it elsewhere)


@dataclass(frozen=True)
class Zone:
    """One package's counter: where it is read and where it wraps (both in microjoules)."""

    name: str
    counter: Path
    wraps_at_uj: int


class NoEnergy(Exception):
    """Why this machine gives no energy figure; one line fit for a record."""


def package_zones(root: Path = POWERCAP) -> list[Zone]:
    """The package-level RAPL zones (`intel-rapl:0`, not their `:0:0` sub-zones, which they contain)."""
    try:
        found = sorted(root.glob("*-rapl:*")) if root.is_dir() else None
    except PermissionError:
        raise NoEnergy(f"not measured here: {root} is not readable by uid {os.getuid()}") from None
    if found is None:
        raise NoEnergy(f"not measured here: no {root} (no RAPL counters exposed; a virtual machine?)")
    zones = []
    for path in found:
        if path.name.count(":") != 1 or not (path / "energy_uj").exists():
            continue
        zones.append(Zone(_read_text(path / "name", path.name), path / "energy_uj",
                          int(_read_text(path / "max_energy_range_uj", "0"))))
    if not zones:
        raise NoEnergy(f"not measured here: {root} has no package energy counter")
    return zones


def _read_text(path: Path, default: str) -> str:
    try:
        return path.read_text().strip() or default
    except FileNotFoundError:
        return default
    except PermissionError:
        raise NoEnergy(f"not measured here: {path} is not readable by uid {os.getuid()} "
                       "(only root may read it on Linux 5.10 and later)") from None


def _counter(zone: Zone) -> int:
    try:
        return int(_read_text(zone.counter, ""))
    except ValueError:
        raise NoEnergy(f"not measured here: {zone.counter} holds no number") from None


def used_uj(before: int, after: int, wraps_at_uj: int) -> int:
    """Microjoules between two readings of one counter; a reading below the first means it wrapped once."""
    if after >= before:
        return after - before
    if wraps_at_uj <= 0:
        raise NoEnergy("not measured here: the counter went back and its range is unknown")
    return wraps_at_uj - before + after


class Meter:
    """Reads every package zone at `start()`; `joules()` gives the energy since then."""

    def __init__(self, root: Path = POWERCAP):
        self.zones = package_zones(root)
        self._start: list[int] = []

    def start(self) -> None:
        self._start = [_counter(z) for z in self.zones]

    def joules(self) -> float:
        return sum(used_uj(b, _counter(z), z.wraps_at_uj) for z, b in zip(self.zones, self._start)) / 1e6


def meter_or_reason(root: Path = POWERCAP) -> tuple[Meter | None, str]:
    """A started meter, or None and the reason this machine gives no energy."""
    try:
        meter = Meter(root)
        meter.start()
        return meter, ""
    except NoEnergy as exc:
        return None, str(exc)


def powercap_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or POWERCAP)


def read_or_reason(meter: Meter | None, reason: str) -> tuple[float | None, str]:
    """The joules since the meter started, or None and why not (the meter's own reason if it never started)."""
    if meter is None:
        return None, reason
    try:
        return meter.joules(), ""
    except NoEnergy as exc:
        return None, str(exc)
