"""The metrics the tracker follows: one asv benchmark each, with its unit and where it comes from.

One table serves the asv suite (one `track_*` benchmark per metric), the comparison page and the
regression report, so a metric is named, united and extracted in exactly one place.

Every metric has a kind, and the kind decides how a change is judged (tracker.report.verdict):
- deterministic (sizes, logrows, constraints, accuracy figures): the same build gives the same number, so
  any change is a change at its exact commit, whatever its size;
- measured (wall and CPU time of a stage, peak memory): judged on the samples, against a minimum effect
  for its `effect` family (wall_time, cpu_time, memory) and a significance test, then confirmed.
Lower is better for every metric but those marked `higher_is_better` (the accuracies against true labels).

Each metric's `version` (its asv benchmark's version) is a hash of its definition: its name, unit, kind and
where its value comes from. Only a change to what a metric means starts a new series in asv's graphs.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

from tracker.records import ModelResult


DETERMINISTIC = "deterministic"
MEASURED = "measured"


@dataclass(frozen=True)
class Metric:
    """`value(result)` gives a number, a list of samples (timings), or None where it does not apply."""

    name: str
    unit: str
    label: str
    value: Callable[[ModelResult], Any]
    kind: str = DETERMINISTIC
    effect: str = ""   # the minimum-effect family of a measured metric: wall_time, cpu_time or memory
    stage: str = ""    # the pipeline stage a timing or memory metric comes from
    higher_is_better: bool = False  # the accuracies against true labels; every other metric is lower-is-better
    # one value a repeat, where `value` is one number for the whole stage (peak memory: each repeat's own
    # peak beside the child's); the verdicts read these where a record has them (`samples`), asv the value
    per_repeat: Callable[[ModelResult], list[float] | None] | None = None

    @property
    def definition(self) -> str:
        """What the metric is, in words a change of meaning changes: shown on asv's page, hashed as its version."""
        source = getattr(self.value, "definition", None)
        if not source:
            raise ValueError(f"metric {self.name}: its value has no definition (use one of the extractors here)")
        better = "higher" if self.higher_is_better else "lower"
        return f"{self.name}: {source}; unit {self.unit}; {self.kind}; {better} is better"

    @property
    def version(self) -> str:
        """asv's version of the metric's benchmark: its results are graphed together while this stays."""
        return hashlib.sha256(self.definition.encode()).hexdigest()[:16]

    @property
    def measured(self) -> bool:
        return self.kind == MEASURED

    @property
    def suite_class(self) -> str:
        """The class of the asv suite that holds this metric's benchmark: prove_time -> ProveTime."""
        return "".join(part.title() for part in self.name.split("_"))

    @property
    def benchmark(self) -> str:
        """The asv benchmark name, as asv spells it: module.Class.method."""
        return f"benchmarks.{self.suite_class}.track_{self.name}"


def _defined(text: str, get: Callable[[ModelResult], Any]) -> Callable[[ModelResult], Any]:
    """An extractor with its definition (Metric.definition): where in a record the value comes from."""
    get.definition = text
    return get


def _samples(stage: str) -> Callable[[ModelResult], list[float] | None]:
    def get(r: ModelResult) -> list[float] | None:
        s = r.stages.get(stage)
        return list(s.samples_s) if s is not None and s.ok and s.samples_s else None
    return _defined(f"wall seconds of each sample of stage {stage}", get)


def _cpu(stage: str) -> Callable[[ModelResult], list[float] | None]:
    """CPU time (user + system of the stage's whole process tree), one per sample, where it was recorded."""
    def get(r: ModelResult) -> list[float] | None:
        s = r.stages.get(stage)
        return list(s.cpu_s) if s is not None and s.ok and s.cpu_s else None
    return _defined(f"CPU seconds (user + system, whole process tree) of each sample of stage {stage}", get)


def _peak(stage: str) -> Callable[[ModelResult], int | None]:
    def get(r: ModelResult) -> int | None:
        s = r.stages.get(stage)
        return s.peak_rss_bytes if s is not None and s.ok and s.peak_rss_bytes else None
    return _defined(f"peak resident bytes of stage {stage}'s process tree", get)


def _repeat_peaks(stage: str) -> Callable[[ModelResult], list[int] | None]:
    """Each repeat's own peak, where the stage's child measured its repeats apart (records of version 3)."""
    def get(r: ModelResult) -> list[int] | None:
        s = r.stages.get(stage)
        return list(s.peak_rss_samples) if s is not None and s.ok and s.peak_rss_samples else None
    return get


def _key(table: str, key: str) -> Callable[[ModelResult], Any]:
    return _defined(f"{table}.{key}", lambda r: getattr(getattr(r, table), key))


def _size(what: str) -> Callable[[ModelResult], int | None]:
    """The raw size where the adapter recorded one, else the file's.

    A proof or key written as JSON spells its field elements in decimal or hex without leading zeros, so
    the file's size moves by a few bytes from one proof to the next of the same circuit (circom's proof.json
    804 and 806 bytes, ezkl's 21,207 to 21,235, seen here); the raw size (circom 256 bytes, ezkl 3,072)
    moves only when the proof does, which is what a deterministic metric must mean.
    """
    def get(r: ModelResult) -> int | None:
        return getattr(r.sizes, f"{what}_raw_bytes") or getattr(r.sizes, f"{what}_bytes")
    return _defined(f"sizes.{what}_raw_bytes, else sizes.{what}_bytes", get)


def _loss(r: ModelResult) -> float | None:
    agreement = r.accuracy.top1_agreement
    return None if agreement is None else 1.0 - float(agreement)


_defined("1 - accuracy.top1_agreement", _loss)


METRICS: tuple[Metric, ...] = (
    Metric("setup_time", "seconds", "setup time", _samples("setup"), MEASURED, "wall_time", "setup"),
    Metric("prove_time", "seconds", "prove time", _samples("prove"), MEASURED, "wall_time", "prove"),
    Metric("verify_time", "seconds", "verify time", _samples("verify"), MEASURED, "wall_time", "verify"),
    Metric("prove_peak_memory", "bytes", "peak prove memory", _peak("prove"), MEASURED, "memory", "prove",
           per_repeat=_repeat_peaks("prove")),
    Metric("proof_size", "bytes", "proof size", _size("proof")),
    Metric("vk_size", "bytes", "verifying key size", _size("vk")),
    Metric("pk_size", "bytes", "proving key size", _key("sizes", "pk_bytes")),
    Metric("circuit_logrows", "log2 rows", "circuit size (logrows)", _key("circuit", "logrows")),
    Metric("circuit_constraints", "constraints", "circuit size (constraints)", _key("circuit", "constraints")),
    Metric("accuracy_max_abs_error", "abs error", "max abs error vs float", _key("accuracy", "max_abs_error")),
    # the public benchmark's "accuracy loss": the share of predictions that differ from the float model's;
    # kept lower-is-better (1 - agreement) so that asv's regression detection reads it the right way round
    Metric("accuracy_loss", "fraction", "accuracy loss (top-1 vs float)", _loss),
    # accuracy against the true labels of the evaluation set, as the public benchmark measures a network.
    # Higher is better for the two accuracies (the tracker's verdicts know it; asv's own graphs read
    # any rise as a regression: judge those by accuracy_drop); float_accuracy moves only with the weights or the evaluation set, a yardstick.
    Metric("float_accuracy", "fraction", "float model accuracy (true labels; higher is better)",
           _key("accuracy", "float_accuracy"), higher_is_better=True),
    Metric("circuit_accuracy", "fraction", "circuit accuracy (true labels; higher is better)",
           _key("accuracy", "circuit_accuracy"), higher_is_better=True),
    # float accuracy - circuit accuracy: what the circuit lost; lower is better (negative: it gained)
    Metric("accuracy_drop", "fraction", "accuracy drop (float - circuit, true labels; lower is better)",
           _key("accuracy", "accuracy_drop")),
    # CPU time beside wall time: a neighbour on a shared machine stretches wall time, hardly CPU time
    Metric("setup_cpu_time", "seconds", "setup CPU time", _cpu("setup"), MEASURED, "cpu_time", "setup"),
    Metric("prove_cpu_time", "seconds", "prove CPU time", _cpu("prove"), MEASURED, "cpu_time", "prove"),
    Metric("verify_cpu_time", "seconds", "verify CPU time", _cpu("verify"), MEASURED, "cpu_time", "verify"),
)

BY_NAME = {m.name: m for m in METRICS}


def samples(metric: Metric, result: ModelResult) -> list[float]:
    """The metric's values in one record as a list: the samples of a timing, each repeat's peak memory
    where the record has it, or the one number.

    A series that crosses the records that began keeping each repeat's peak compares the whole child's peak
    (the largest of its repeats, start-up included) with each repeat's: as large or larger before, by as
    much as the repeats differ, so the crossing can read as a fall, never as a rise."""
    if result is None:
        return []
    value = (metric.per_repeat(result) if metric.per_repeat else None) or metric.value(result)
    if value is None:
        return []
    return [float(x) for x in value] if isinstance(value, list) else [float(value)]


def summary(value: Any) -> float | None:
    """One number for a metric value: the median of samples, or the value itself."""
    if value is None:
        return None
    if isinstance(value, list):
        from statistics import median

        return median(value) if value else None
    return float(value)

def cpu_metric(metric: Metric) -> Metric | None:
    """The CPU time of the same stage beside a wall-time metric (None for any other metric): a wall step
    without a CPU step is what a neighbour looks like."""
    if metric.effect != "wall_time":
        return None
    return next((m for m in METRICS if m.effect == "cpu_time" and m.stage == metric.stage), None)


# the effect families whose runs measured back to back share the load of their moment (the correlation of two
# timings measured one after the other was 0.74-0.82 for wall time here, 0.28-0.55 for CPU time, none for peak
# memory: bench/noise_model.json's `adjacent`), so runs of one round are compared within the round
SHARED_LOAD = frozenset({"wall_time", "cpu_time"})

# the stages whose timings and memory are metrics: re-measuring one must run it, never read it back
MEASURED_STAGES = frozenset(m.stage for m in METRICS if m.measured)
