"""snarkjs powers-of-tau files for circom's Groth16 setups: which file a circuit gets, one per power per machine.

A Groth16 setup (`snarkjs zkey new`) needs a phase-2 prepared `.ptau` of at least the circuit's power.
Proving and verifying cost the same whatever tau is, so by default the tracker writes one from a known
tau (`scripts/ptau_writer.js`: tau = 2, alpha = 3, beta = 5, every point one scalar multiple of a
generator): seconds a power, where snarkjs's own ceremony and `prepare phase2` took 17-22 minutes for the
tiny suite's powers 9, 13 and 15 on 2 cores. Anyone can forge proofs with keys made from it: insecure, for
benchmarks only, and every record says so.

Written files live in one directory per machine, shared by every tracker cache on it: $ZKML_PTAU_DIR, else
$XDG_CACHE_HOME/zkml-tracker/ptau (~/.cache/zkml-tracker/ptau). Each is written beside its final name
and renamed into place under a lock, its sidecar JSON (what made it, in how long) first. A user with
real ceremony files (the Hermez ones, `powersOfTau28_hez_final_NN.ptau`) points $ZKML_PTAU_CEREMONY at
their directory: the smallest one of a high enough power is used, and the records name it.
"""
from __future__ import annotations

import fcntl
import os
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tracker.fsutil import atomic_write_json, read_json

WRITER = Path(__file__).parent / "scripts" / "ptau_writer.js"
DIR_ENV = "ZKML_PTAU_DIR"
CEREMONY_ENV = "ZKML_PTAU_CEREMONY"
KNOWN_TAU = "known tau (tau = 2, alpha = 3, beta = 5), written by zkml-tracker: insecure, for benchmarks only"
# bn128's scalar field has 2^28 roots of unity; past 20 a written file takes many minutes and gigabytes
MAX_WRITTEN_POWER = 20
_POWER_IN_NAME = re.compile(r"(\d+)\.ptau$")


class PtauError(Exception):
    """A ptau setting that cannot be used; the message names the setting and the path."""


@dataclass(frozen=True)
class Ptau:
    path: Path
    kind: str      # what the records say: a known tau, or which ceremony file
    reused: bool   # found in place, not made by this call
    made_in_s: float | None = None


def ptau_dir() -> Path:
    """Where written files are kept: one directory per machine, whatever tracker cache a run uses."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zkml-tracker" / "ptau"


def written_path(power: int) -> Path:
    return ptau_dir() / f"known-tau-bn128-{int(power):02d}.ptau"


def ceremony_file(power: int) -> Path | None:
    """The smallest ceremony file in $ZKML_PTAU_CEREMONY whose power (the number before `.ptau` in its
    name) is at least `power`; None when the setting is not set."""
    setting = os.environ.get(CEREMONY_ENV)
    if not setting:
        return None
    folder = Path(setting)
    if not folder.is_dir():
        raise PtauError(f"{CEREMONY_ENV}={setting}: not a directory")
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _POWER_IN_NAME.search(p.name)))
    for have, path in found:
        if have >= power:
            return path
    raise PtauError(f"{CEREMONY_ENV}={setting}: no .ptau file of power {power} or more "
                    f"(have: {', '.join(str(h) for h, _ in found) or 'none'})")


def ceremony_ptau(power: int) -> Ptau | None:
    path = ceremony_file(power)
    return None if path is None else Ptau(path, f"ceremony file {path.name} (from {CEREMONY_ENV})", True)


def obtain(power: int, write: Callable[[Path], float | None]) -> Ptau | None:
    """The machine's known-tau file of `power`, found or made by `write(tmp)` (which returns the seconds
    it took, or None when it failed: then nothing is left behind and None is returned)."""
    path = written_path(power)
    with _lock(path):
        if not path.exists():
            seconds = _make(path, power, write)
            if seconds is None:
                return None
            return Ptau(path, KNOWN_TAU, False, seconds)
    meta = read_json(_sidecar(path))
    seconds = meta.get("seconds") if isinstance(meta, dict) else None
    return Ptau(path, KNOWN_TAU, True, seconds if isinstance(seconds, (int, float)) else None)


def _make(path: Path, power: int, write: Callable[[Path], float | None]) -> float | None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        seconds = write(tmp)
        if seconds is None or not tmp.exists():
            return None
        atomic_write_json(_sidecar(path), {"version": 1, "kind": KNOWN_TAU, "power": power,
                                           "made_by": WRITER.name, "seconds": seconds})
        os.replace(tmp, path)
        return seconds
    finally:
        tmp.unlink(missing_ok=True)


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock beside a ptau file: one process writes it, the others wait and then reuse it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
