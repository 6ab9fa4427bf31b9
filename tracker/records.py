"""What one framework revision did with one model under one variant: the tracker's own, versioned record.

asv keeps the numbers it graphs; these records keep everything around them that asv has no place for:
why a stage failed (and which limit it hit), the settings the framework actually used (scales, logrows,
decimals), which SRS/ptau kind the keys came from, and the machine. They are written atomically, one file
per (revision, model, variant), so a crash loses at most the model being proved.

A record carries the key of what made it (`record_key`: adapter, build recipe, stage commands, variant
settings, limits). One made under another key is stale: a failure the config caused (a bad stage
command, a timeout too short) is proved again once the config changes, without `--force`. Version 1
records, from before keys, are read as they are and count as current.
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tracker import serial
from tracker.fsutil import atomic_write_json, read_json, read_state

RECORD_VERSION = 3            # records/<sha>/<model>--<variant>.json; 2: the record key (the store lists it);
                              # 3: a stage's peak_rss_samples, each repeat's own peak memory
RECORD_READABLE = (1, 2, 3)   # 1: no key, 2: no peak per repeat, both still read


def record_stem(model: str, variant: str) -> str:
    return f"{model}--{variant}"


def record_name(model: str, variant: str) -> str:
    return f"{record_stem(model, variant)}.json"



class Status(StrEnum):
    """Every status the tracker writes, one vocabulary for records, builds, revisions and frameworks.

    A `str` enum: files keep the same strings ("ok", "build_failed") and files written before it still
    load, and a member equals its string. Which statuses apply where:

    - a stage (StageResult) and a record (ModelResult, whose status is its first failing stage's or its
      own): OK; ERROR (a command failed, or wrote no result); CRASHED (killed by a signal); TIMEOUT and
      OUT_OF_MEMORY (a limit was hit: the stage says which); UNSUPPORTED (a model or stage the framework
      cannot do); SKIPPED (a stage not run after an earlier one failed: stages only).
    - a build (build.json): OK; FAILED (a verdict: it does not build); TIMEOUT, OUT_OF_MEMORY (a build limit)
      and CRASHED (a signal from outside), which are no verdict and are built again next run.
    - a revision (status.json's `revisions`, builds/<sha>.json): OK; FAILED (a record not ok, asv failed,
      or no source tree); BUILD_FAILED.
    - a framework (status.json, the site's cards): OK; FAILED; UNSUPPORTED (no working adapter yet);
      UNAVAILABLE (a toolchain missing or its history out of reach here); on the site also BUILD_FAILED
      (every revision tried failed to build) and NOT_RUN (no results yet).

    The verdicts of the report (changed, candidate, confirmed, not_confirmed) say what a change is, not
    how a run went, and are not statuses.
    """

    OK = "ok"
    ERROR = "error"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    FAILED = "failed"
    BUILD_FAILED = "build_failed"
    UNAVAILABLE = "unavailable"
    NOT_RUN = "not_run"


STAGE_STATUSES = (Status.OK, Status.ERROR, Status.CRASHED, Status.TIMEOUT, Status.OUT_OF_MEMORY,
                  Status.UNSUPPORTED, Status.SKIPPED)
RECORD_STATUSES = tuple(s for s in STAGE_STATUSES if s is not Status.SKIPPED)
BUILD_STATUSES = (Status.OK, Status.FAILED, Status.TIMEOUT, Status.OUT_OF_MEMORY, Status.CRASHED)
REVISION_STATUSES = (Status.OK, Status.FAILED, Status.BUILD_FAILED)
FRAMEWORK_STATUSES = (Status.OK, Status.FAILED, Status.UNSUPPORTED, Status.UNAVAILABLE, Status.BUILD_FAILED,
                      Status.NOT_RUN)
OK = Status.OK  # the same member, under the name older code imports


@dataclass
class StageResult:
    """One pipeline stage. `samples_s` are the stage's own times (no interpreter start-up), one per repeat.

    `peak_rss_bytes` is the whole child's peak (its process tree, every repeat and its start-up);
    `peak_rss_samples` holds each repeat's own peak where the child could measure its repeats apart (a
    process a repeat, or a high-water mark reset before each), so memory has as many values a revision as
    time has: one value a revision placed a 1.2x memory step up to three commits off (docs/verdicts.md)."""

    stage: str
    status: str = Status.OK  # one of STAGE_STATUSES
    reason: str = ""
    samples_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    peak_rss_samples: list[int] = field(default_factory=list)
    child_wall_s: float = 0.0
    limit: str = ""
    energy_j: float | None = None  # the packages' energy while the child ran (tracker.energy); None: not measured

    @property
    def ok(self) -> bool:
        return self.status == Status.OK



class Declared(dict):
    """A record's table of figures (sizes, circuit, accuracy) whose keys are declared: the contract between an
    adapter, which fills it, and tracker.metrics, which reads it by attribute. Setting a key not declared
    fails at once, naming it; a record read from disk keeps what it holds (figures of an older tracker)."""

    KIND = ""
    FIELDS: dict[str, str] = {}  # name -> what it is

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.update(*args, **kwargs)

    @classmethod
    def kept(cls, data: dict) -> "Declared":
        """As read from a record on disk: no check, nothing dropped."""
        out = cls()
        dict.update(out, data or {})
        return out

    def __setitem__(self, key: str, value) -> None:
        if key not in self.FIELDS:
            raise KeyError(f"{self.KIND}: {key!r} is not a declared field (tracker/records.py {type(self).__name__}: "
                           f"{', '.join(self.FIELDS)})")
        super().__setitem__(key, value)

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def __getattr__(self, name: str):
        if name in type(self).FIELDS:
            return self.get(name)
        raise AttributeError(f"{self.KIND} has no declared field {name!r}")


class Sizes(Declared):
    KIND = "sizes"
    FIELDS = {
        "proof_bytes": "the proof file", "proof_raw_bytes": "the proof's own bytes, however the file spells them",
        "vk_bytes": "the verifying key file", "vk_raw_bytes": "the verifying key's own bytes",
        "pk_bytes": "the proving key file", "srs_bytes": "the SRS file", "ptau_bytes": "the powers-of-tau file",
        "public_vals_bytes": "the public values (zkml)", "proof_unfolded_bytes": "proofs before folding (zkTorch)",
        "acc_proof_bytes": "accumulated proofs (zkTorch)", "enc_model_bytes": "encoded model (zkTorch)",
        "enc_input_bytes": "encoded inputs (zkTorch)", "enc_output_bytes": "encoded outputs (zkTorch)",
        "setup_bytes": "setups (zkTorch)", "model_data_bytes": "model data (zkTorch)",
    }


class Circuit(Declared):
    KIND = "circuit"
    FIELDS = {
        "logrows": "log2 of the rows (halo2, Kimchi, UltraHonk's circuit size)", "gates": "gates (UltraHonk)", "rows": "rows (Kimchi)", "constraints": "R1CS constraints",
        "wires": "R1CS wires", "private_inputs": "R1CS private inputs", "public_outputs": "R1CS public outputs",
        "public_values": "public values (zkml)", "ptau_power": "the powers of tau the circuit needs",
        "num_rows": "rows used (ezkl)", "total_assignments": "assignments (ezkl)",
        "total_const_size": "constants (ezkl)", "required_lookups": "lookups (ezkl)",
        "required_range_checks": "range checks (ezkl)", "steps": "execution steps (Cairo)",
        "mips_steps": "MIPS steps (opML)", "bisection_rounds": "dispute game rounds (opML)",
    }


class Accuracy(Declared):
    KIND = "accuracy"
    FIELDS = {
        "max_abs_error": "largest output difference from the float model", "mean_abs_error": "mean of it",
        "top1_agreement": "share of top-1 predictions equal to the float model's", "n": "images evaluated",
        "float_accuracy": "the float model against true labels", "circuit_accuracy": "the circuit against them",
        "accuracy_drop": "float_accuracy - circuit_accuracy",
    }


DECLARED_TABLES = {"sizes": Sizes, "circuit": Circuit, "accuracy": Accuracy}


@dataclass
class ModelResult:
    """Everything measured for (framework, revision, model, variant). Sizes in bytes."""

    framework: str
    revision: str
    model: str
    variant: str
    status: str = Status.OK  # one of RECORD_STATUSES
    reason: str = ""
    stages: dict[str, StageResult] = field(default_factory=dict)
    sizes: Sizes = field(default_factory=Sizes)
    circuit: Circuit = field(default_factory=Circuit)
    accuracy: Accuracy = field(default_factory=Accuracy)
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)  # the machine's modmul rates (tracker.calibration)
    energy: str = ""  # why the stages carry no energy figure ("not measured here: ..."), "" where they do
    key: str = ""  # record_key of the config that made it; "" for a version 1 record

    def __setattr__(self, name: str, value) -> None:
        """The declared tables stay declared when an adapter sets a whole one (`result.accuracy = ...`)."""
        table = DECLARED_TABLES.get(name)
        if table is not None and not isinstance(value, table):
            value = table(value)
        super().__setattr__(name, value)

    def add(self, stage: StageResult) -> StageResult:
        """Keep a stage; the first failing stage decides the model's status and reason."""
        self.stages[stage.stage] = stage
        if not stage.ok and self.status == Status.OK:
            self.status, self.reason = stage.status, f"{stage.stage}: {stage.reason}"
        return stage

    def fail(self, status: str, reason: str) -> "ModelResult":
        if self.status == Status.OK:
            self.status, self.reason = status, reason
        return self

    def to_json(self) -> dict[str, Any]:
        return {**serial.to_json(self), "version": RECORD_VERSION}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelResult":
        if data.get("version") not in RECORD_READABLE:
            raise ValueError(f"record version {data.get('version')!r}, expected one of {RECORD_READABLE}")
        rec = serial.from_json(cls, {k: v for k, v in data.items() if k != "version" and k not in DECLARED_TABLES})
        for name, table in DECLARED_TABLES.items():
            kept = data.get(name) or {}
            if not isinstance(kept, dict) or not all(isinstance(k, str) for k in kept):
                raise ValueError(f"{name}: expected an object of named figures, found {type(kept).__name__}")
            setattr(rec, name, table.kept(kept))
        return rec


def record_key(framework, variant_name: str) -> str:
    """What a record of `framework` under a variant depends on besides the revision, as a short hash.

    Repeats and the evaluation count are left out: they say how much was measured, not what, and a
    `--repeats 1` trial must not make the nightly prove everything again."""
    variant = framework.variant(variant_name)
    data = {"adapter": framework.adapter, "build": asdict(framework.build), "stages": list(framework.stages),
            "settings": [list(kv) for kv in variant.settings],
            "limits": asdict(variant.limits or framework.limits)}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_current(record: "ModelResult", key: str) -> bool:
    """Made under `key`, or a version 1 record (no key) read as it is."""
    return not record.key or not key or record.key == key


def machine_info() -> dict[str, str]:
    """Enough about the machine to tell two figures apart: name, CPU (its model where the kernel names it),
    cores, Python. The calibration is keyed on it (tracker.calibration): a host moved to another CPU under
    the same name and core count is measured again."""
    import os

    return {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": this_cpu_model(),
        "cores": str(os.cpu_count()),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


@functools.lru_cache(maxsize=1)
def this_cpu_model() -> str:
    """This machine's CPU model, read once a process: every record names its machine, and the kernel's
    name for the CPU does not change under a running tracker."""
    return cpu_model()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model as Linux names it ("model name" on x86, "Model" on some ARM boards); "" elsewhere."""
    try:
        lines = cpuinfo.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model") and value.strip():
            return value.strip()
    return ""


def machine_of(machine) -> str:
    """A record's machine in a few words (`runner-a: x86_64, 4 cores`); "" when the record names none.

    Kernel and Python releases are left out: an update of one host does not make it another machine."""
    if not isinstance(machine, dict) or not machine.get("host"):
        return ""
    return f"{machine['host']}: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"


def record_path(records_dir: Path, revision: str, model: str, variant: str) -> Path:
    return records_dir / revision / record_name(model, variant)


def save(records_dir: Path, result: ModelResult) -> Path:
    path = record_path(records_dir, result.revision, result.model, result.variant)
    atomic_write_json(path, result.to_json())
    return path


def load(path: Path) -> ModelResult | None:
    """A record, or None when the file is missing, torn, or of another format version."""
    data = read_json(path)
    if not isinstance(data, dict):
        return None
    try:
        return ModelResult.from_json(data)
    except (TypeError, ValueError):
        return None


def load_current(path: Path, key: str) -> ModelResult | None:
    """The record if it was made under `key` (see `is_current`), else None: it is to be proved again."""
    rec = load(path)
    return rec if rec is not None and is_current(rec, key) else None


def check(path: Path) -> tuple[ModelResult | None, bool]:
    """(the record or None, whether it was torn). A torn record is set aside as `*.json.torn`."""
    data, torn = read_state(path)
    if torn or not isinstance(data, dict):
        return None, torn
    try:
        return ModelResult.from_json(data), False
    except (TypeError, ValueError):
        return None, False


def load_revision(records_dir: Path, revision: str, unreadable: list[Path] | None = None) -> list[ModelResult]:
    """The revision's whole records; into `unreadable`, if given, the paths of those that could not be read:
    torn or of another format, or set aside torn (`*.json.torn`) and not written again."""
    out = []
    for path in sorted((records_dir / revision).glob("*.json*")):
        if path.name.startswith("."):  # an atomic write's temporary file
            continue
        if path.suffix == ".torn":
            if unreadable is not None and not path.with_suffix("").exists():
                unreadable.append(path)
            continue
        if path.suffix != ".json":
            continue
        rec = load(path)
        if rec is not None:
            out.append(rec)
        elif unreadable is not None:
            unreadable.append(path)
    return out
