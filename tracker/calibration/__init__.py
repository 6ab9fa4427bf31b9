"""The machine's calibration: how many modular multiplications a second it does, in the fields provers use.

Every zkML prover here spends its time in multiplications modulo a 254- or 381-bit prime (MSMs, FFTs,
sumchecks), so their rate is what makes two machines' prove times comparable, and what the seed report's
"ZKML Score" divides by power (MMOPS per Watt). `modmul.go` measures it with gnark-crypto's Montgomery
multiplication on BN254's scalar field and BLS12-381's base field, on one core and on all of them, a few
repeats each; the result is kept per machine (under the user's cache, shared by every checkout) and made
again when the machine's description, the tracker's version or the program changes. Every record carries
its summary, so a record read years later says what the machine could do. Where the package energy counters
are readable (tracker.energy), each field is run once more on all cores with the counters read around it:
multiplications per joule, the seed report's MMOPS per Watt; elsewhere the calibration says why not.

What it does not capture: provers bound by memory bandwidth (large FFTs, witness generation) scale with
the memory system, not with the multiplication rate; a normalised figure is a guide, not a conversion.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tracker import __version__, energy
from tracker.fsutil import atomic_write_json, read_json
from tracker.measure import ChildFailed, captured

CALIBRATION_VERSION = 2   # 2: MMOPS per Watt where energy is read (a kept 1 is measured again)
SOURCE_DIR = Path(__file__).parent
SOURCES = ("modmul.go", "go.mod", "go.sum")
LIBRARY = "gnark-crypto v0.22.0"
FIELDS = {"bn254_fr": "BN254 scalar field (254-bit)", "bls12_381_fp": "BLS12-381 base field (381-bit)"}
# "single" and "all": multiplications per wall second on one core and on all (the machine's capacity as it
# was, neighbours included); PER_CPU_SECOND: per CPU second of the one worker's thread, which a neighbour
# hardly moves (seen here on 2 cores at load 14: BN254 4 M/s a wall second, 42 M/s a CPU second).
# CPU seconds of a stage times PER_CPU_SECOND are its "multiplications' worth".
PER_CPU_SECOND = "per_cpu_second"
ROUNDS, REPEATS = 1_000_000, 5       # 4 M multiplications a worker and repeat: about 0.15 s here
BUILD_TIMEOUT_S, RUN_TIMEOUT_S = 900, 300


@dataclass(frozen=True)
class Rate:
    """Multiplications per second over the repeats: median, the smallest and the largest, and each one."""

    median: float
    low: float
    high: float
    samples: tuple[float, ...]

    @property
    def spread(self) -> float:
        """(high - low) / median: how far one calibration may be off the next on this machine."""
        return (self.high - self.low) / self.median if self.median else float("nan")

    @classmethod
    def of(cls, samples: list[float]) -> "Rate":
        return cls(statistics.median(samples), min(samples), max(samples), tuple(samples))


@dataclass(frozen=True)
class Calibration:
    """One machine's calibration, or why there is none (`reason`, and no rates)."""

    key: str
    machine: dict[str, str]
    measured_at: str = ""
    library: str = LIBRARY
    rates: dict[str, dict[str, Rate]] = field(default_factory=dict)   # field -> "single" | "all" -> Rate
    reason: str = ""
    load: float = -1.0   # the 1-minute load average when it was measured: the wall rates depend on it
    per_watt: dict[str, float] = field(default_factory=dict)   # field -> MMOPS per Watt on all cores
    energy: str = ""     # why there is no per_watt ("not measured here: ..."); "" where there is

    @property
    def measured(self) -> bool:
        return bool(self.rates)

    def rate(self, field_name: str = "bn254_fr", workers: str = PER_CPU_SECOND) -> float | None:
        rate = self.rates.get(field_name, {}).get(workers)
        return rate.median if rate else None

    def summary(self) -> dict[str, Any]:
        """What a record carries: the key, and per field and worker count the median rate and its spread."""
        if not self.measured:
            return {"key": self.key, "status": "not measured", "reason": self.reason}
        score = {"mmops_per_watt": self.per_watt} if self.per_watt else {"energy": self.energy}
        return {"key": self.key, "library": self.library, "measured_at": self.measured_at, "load": self.load,
                "mmops": {f: {w: {"median": r.median / 1e6, "spread": r.spread, "n": len(r.samples)}
                              for w, r in by.items()} for f, by in self.rates.items()}, **score}

    def to_json(self) -> dict[str, Any]:
        return {"version": CALIBRATION_VERSION, "key": self.key, "machine": self.machine,
                "measured_at": self.measured_at, "library": self.library, "reason": self.reason, "load": self.load,
                "rates": {f: {w: list(r.samples) for w, r in by.items()} for f, by in self.rates.items()},
                "per_watt": self.per_watt, "energy": self.energy}

    @classmethod
    def from_json(cls, data: Any) -> "Calibration | None":
        if not isinstance(data, dict) or data.get("version") != CALIBRATION_VERSION:
            return None
        try:
            rates = {f: {w: Rate.of([float(x) for x in s]) for w, s in by.items()}
                     for f, by in data["rates"].items()}
            return cls(data["key"], dict(data["machine"]), data["measured_at"], data["library"], rates,
                       data.get("reason", ""), float(data.get("load", -1.0)),
                       {f: float(v) for f, v in data.get("per_watt", {}).items()}, str(data.get("energy", "")))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def machine_cache() -> Path:
    """Where this machine keeps what every checkout of the tracker can share: $XDG_CACHE_HOME/zkml-tracker."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zkml-tracker"


@functools.lru_cache(maxsize=1)
def program_source() -> bytes:
    """The calibration program's files, read once a process (every record asks for the key)."""
    return b"".join((SOURCE_DIR / name).read_bytes() for name in SOURCES)


def calibration_key(machine: dict[str, str]) -> str:
    """What a calibration depends on: the machine's description, the tracker's version and the program."""
    program = program_source()
    data = json.dumps({"machine": machine, "tracker": __version__, "version": CALIBRATION_VERSION}, sort_keys=True)
    return hashlib.sha256(data.encode() + program).hexdigest()[:16]


def current(machine: dict[str, str], cache: Path | None = None, measure: bool = True) -> Calibration:
    """This machine's calibration: the kept one if its key still holds, else measured now (and kept).

    A failure to measure (no Go, no module proxy, a crash) is a Calibration with its reason: records then
    say "not measured" and why; it is tried again on the next run."""
    cache = cache or machine_cache()
    key = calibration_key(machine)
    path = cache / "calibration" / f"{key}.json"
    kept = Calibration.from_json(read_json(path))
    if kept is not None and kept.key == key:
        return kept
    if not measure:
        return Calibration(key, machine, reason="not calibrated yet on this machine (run `zkml-tracker machine`)")
    made = calibrate(machine, key, cache)
    if made.measured:
        atomic_write_json(path, made.to_json())
    return made


def before_measuring(say) -> Calibration:
    """This machine's calibration, measured now if none is kept, and said: every command that measures
    stages (run, nightly, bisect, compare, confirmations) calls it first, so the records it makes carry the
    calibration (they read the kept one) rather than "not calibrated yet"."""
    from tracker.records import machine_info

    cal = current(machine_info())
    say(one_line(cal))
    return cal


def calibrate(machine: dict[str, str], key: str, cache: Path, rounds: int = ROUNDS,
              repeats: int = REPEATS) -> Calibration:
    """Build the program (once per source) and run it: the rates of every field on one core and on all,
    and where the machine reads its energy, the multiplications per joule on all cores."""
    try:
        binary = build_program(cache)
        out = captured([binary, "-rounds", str(rounds), "-repeats", str(repeats)], timeout_s=RUN_TIMEOUT_S)
        report = parse_report(out, rounds)
    except ChildFailed as exc:
        return Calibration(key, machine, reason=f"calibration failed: {exc.reason}")
    except (ValueError, KeyError, TypeError) as exc:
        return Calibration(key, machine, reason=f"calibration failed: {exc}")
    load = os.getloadavg()[0]
    scores, why = per_watt(binary, energy.powercap_root(), rounds, repeats)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Calibration(key, machine, now, LIBRARY, report, load=load, per_watt=scores, energy=why)


def per_watt(binary: Path, root: Path, rounds: int, repeats: int) -> tuple[dict[str, float], str]:
    """The seed report's score: each field's multiplications on all cores over the joules the packages used
    meanwhile (M per joule = MMOPS per Watt), a run of that field alone between two readings of the counters;
    ({}, why) where the machine reads no energy. A neighbour's energy is counted too: on a shared machine
    the figure is a floor, never a model standing in for a reading."""
    scores = {}
    for name in FIELDS:
        meter, why = energy.meter_or_reason(root)
        if meter is None:
            return {}, why
        try:
            out = captured([binary, "-rounds", str(rounds), "-repeats", str(repeats), "-field", name,
                            "-all-cores-only"], timeout_s=RUN_TIMEOUT_S)
            parse_report(out, rounds)   # the products checked: the count below is the one done
        except ChildFailed as exc:
            return {}, f"not measured: the energy run of {name} failed: {exc.reason}"
        except (ValueError, KeyError, TypeError) as exc:
            return {}, f"not measured: the energy run of {name} failed: {exc}"
        joules, why = energy.read_or_reason(meter, "")
        if joules is None:
            return {}, why
        if joules <= 0:
            return {}, f"not measured here: the package counters under {root} did not move while {name} ran"
        run = json.loads(out)["fields"][name]["all"]
        scores[name] = run["multiplications_per_worker"] * run["workers"] * len(run["rates"]) / joules / 1e6
    return scores, ""


def parse_report(text: str, rounds: int) -> dict[str, dict[str, Rate]]:
    """The program's JSON, checked: each chain must hold 3 * 5^n (n multiplications really done)."""
    data = json.loads(text)
    out: dict[str, dict[str, Rate]] = {}
    for name, by_workers in data["fields"].items():
        modulus = MODULI[name]
        expected = str(3 * pow(5, rounds, modulus) % modulus)
        for workers, run in by_workers.items():
            if run["first_chain_result"] != expected or run["multiplications_per_worker"] != rounds * data["chains"]:
                raise ValueError(f"the {name} calibration computed a wrong product: not a trustworthy rate")
            out.setdefault(name, {})[workers] = Rate.of([float(r) for r in run["rates"]])
            per_cpu = [float(r) for r in run["cpu_rates"] if r > 0]   # 0: a repeat too short for the clock
            if workers == "single" and per_cpu:
                out[name][PER_CPU_SECOND] = Rate.of(per_cpu)
    return out


MODULI = {
    "bn254_fr": 21888242871839275222246405745257275088548364400416034343698204186575808495617,
    "bls12_381_fp": int("1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9fe"
                        "ffffffffaaab", 16),
}


def build_program(cache: Path) -> Path:
    """The calibration binary, built by `go build` from the committed sources once per their hash."""
    digest = hashlib.sha256(program_source()).hexdigest()[:16]
    binary = cache / "calibration" / "bin" / f"modmul-{digest}"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise ChildFailed("go not found: install Go 1.26 or newer (the calibration is built with it)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modmul-", dir=binary.parent) as tmp:
        for name in SOURCES:
            shutil.copy2(SOURCE_DIR / name, Path(tmp) / name)
        built = Path(tmp) / "modmul"
        captured([go, "build", "-o", str(built), "."], cwd=Path(tmp), timeout_s=BUILD_TIMEOUT_S)
        os.replace(built, binary)
    return binary


def forget(machine: dict[str, str], cache: Path | None = None) -> None:
    """Drop the kept calibration, so the next `current` measures anew."""
    path = (cache or machine_cache()) / "calibration" / f"{calibration_key(machine)}.json"
    path.unlink(missing_ok=True)


def describe(cal: Calibration) -> str:
    """Lines for a terminal: each field's rate on one core and on all, median and spread."""
    if not cal.measured:
        return f"{'calibration':12} not measured: {cal.reason}"
    lines = [f"{'calibration':12} {cal.library}, {cal.measured_at} (load {cal.load:.1f}), key {cal.key}"]
    for name, by in cal.rates.items():
        parts = [f"{w} {r.median / 1e6:.1f} M/s (spread {r.spread:.0%}, n={len(r.samples)})" for w, r in by.items()]
        lines.append(f"  {FIELDS.get(name, name)}: " + "; ".join(parts))
    if cal.per_watt:
        lines.append("  MMOPS per Watt, all cores: " + "; ".join(
            f"{FIELDS.get(name, name)} {score:.2f}" for name, score in cal.per_watt.items()))
    else:
        lines.append(f"  MMOPS per Watt: {cal.energy or 'not measured'}")
    return "\n".join(lines)


def one_line(cal: Calibration) -> str:
    """What a run says of the machine it measures on."""
    if not cal.measured:
        return f"machine calibration: not measured: {cal.reason}"
    rates = ", ".join(f"{name} {cal.rate(name) / 1e6:.1f} M/s" for name in cal.rates)
    return f"machine calibration ({cal.library}): {rates} modular multiplications a CPU second"
