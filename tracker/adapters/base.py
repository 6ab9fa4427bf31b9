"""The narrow interface every framework adapter implements, and the one way adapters run a stage.

An adapter knows three things about its framework: which toolchains it needs, how to build a revision
(when the generic recipes of `tracker.build` are not enough), and how to take one model through the
framework's pipeline (compile, setup, prove, verify, witnesses for accuracy). Everything else (history,
caching, asv, publishing) is the tracker's and is the same for every framework.

Stages run as child processes through `run_stage`, which measures them with `tracker.measure` and reads
the stage's own timings from a JSON file the child writes, so start-up and imports are not counted.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence, TypeVar

from tracker import energy
from tracker.adapters import stage_cache
from tracker.adapters.toolchains import NODE
from tracker.fsutil import read_json
from tracker.measure import ChildFailed, run_measured
from tracker.metrics import MEASURED_STAGES
from tracker.records import ModelResult, StageResult, Status
from tracker.types import Build, Framework, ModelJob, Toolchain, Unsupported, Variant

Generated = TypeVar("Generated")


# the child that runs a shell command `repeats` times and reports each run's wall time
TIMED_SCRIPT = Path(__file__).parent / "scripts" / "timed_command.py"


class Adapter(ABC):
    """Base of every framework adapter. Subclasses are listed in `tracker.adapters.ADAPTERS`.

    `prove` is the template every adapter shares: a subclass gives its `stages` and a `pipeline` that
    runs them (through `run_stage` or `timed_stage`) and stops at the first failure; the template keeps
    a failure on the tracker's side as data, records the sizes of the files made, and marks the stages a
    failure kept from running as skipped."""

    name: ClassVar[str]
    toolchains: ClassVar[tuple[Toolchain, ...]] = ()
    # the pipeline's stages, in order: those with no record after a failure are marked skipped
    stages: ClassVar[tuple[str, ...]] = ()
    # size key -> the entry of the pipeline's `files` naming the file it measures (recorded on failure too)
    size_files: ClassVar[dict[str, str]] = {}
    # variant setting -> (int,), (float,), (str,) or (str, allowed values...): tracker.adapters.settings checks
    variant_settings: ClassVar[dict[str, tuple]] = {}
    # stage -> what the framework itself calls it, where the tracker's name says less (o1js's setup is its
    # compile): the page shows it beside the framework's figures; the metric keeps its name
    stage_labels: ClassVar[dict[str, str]] = {}
    # None when the adapter can run; otherwise one line saying why it cannot (yet)
    unsupported_reason: ClassVar[str | None] = None
    # host -> what the build fetches from it, for what comes from outside the package registries (git
    # dependencies, submodules); `tracker.adapters.readiness` tries each before a run
    fetches_from: ClassVar[dict[str, str]] = {}

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("default"),)

    def missing_here(self) -> str | None:
        """What else this adapter needs on this machine, beyond its toolchains, hosts and the recipe's
        rust_toolchain, as one line with how to get it; None when nothing is missing. Asked once the
        toolchains are there."""
        return None

    def build(self, framework: Framework, revision, source: Path | None, build_dir: Path,
              log_path: Path) -> Build | None:
        """Build a revision the adapter's own way; None means "use the recipe in frameworks.yaml"."""
        return None

    def recipe_for(self, framework: Framework, revision) -> Framework:
        """The framework as its recipe builds `revision` (noir: bb.js's release with the compiler that goes
        with it); the build directory's hash is taken of this, so a recipe that grows builds anew."""
        return framework

    def finish_build(self, framework: Framework, build: Build, log_path: Path) -> Build:
        """What the adapter adds to a build its recipe made (zkml: a venv for its converters), so a framework
        whose build is a recipe's plus a step of its own still builds through the recipe."""
        return build

    def prove(self, job: ModelJob) -> ModelResult:
        """Take `job.model` through the pipeline; failures go into the result, never raise."""
        result = job.new_result()
        files: dict[str, Any] = {}
        try:
            self.pipeline(job, result, files)
        except Exception as exc:  # a problem on the tracker's side (files, model export): recorded, not raised
            result.fail(Status.ERROR, tracker_failure(job, exc))
        finally:
            self.record_sizes(result, files)
        mark_skipped(result, self.not_reached(result))
        return result

    @abstractmethod
    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        """Run the stages into `result`, returning at the first that fails; put in `files` the paths of
        what the stages make (the entries `size_files` names)."""

    def record_sizes(self, result: ModelResult, files: dict[str, Any]) -> None:
        """The sizes of the files in `size_files`, and the proof's own bytes where the adapter can tell."""
        for key, name in self.size_files.items():
            size = file_size(Path(files[name])) if files.get(name) else 0
            if size:
                result.sizes[key] = size
        proof = read_json(Path(files["proof"])) if self.size_files and files.get("proof") else None
        raw = self.proof_raw_bytes(proof) if isinstance(proof, dict) else None
        if raw is not None:
            result.sizes["proof_raw_bytes"] = raw
        vk = read_json(Path(files["vk"])) if self.size_files and files.get("vk") else None
        raw = self.vk_raw_bytes(vk) if isinstance(vk, dict) else None
        if raw is not None:
            result.sizes["vk_raw_bytes"] = raw

    def proof_raw_bytes(self, proof: dict[str, Any]) -> int | None:
        """The proof's size without its JSON wrapping, from the proof file's content; None if unknown.

        A JSON file spells field elements without leading zeros, so its size moves by a few bytes between
        proofs of one circuit; the raw size is what the proof size metric judges where it is known."""
        return None

    def vk_raw_bytes(self, vk: dict[str, Any]) -> int | None:
        """The verifying key's size without its JSON wrapping (as `proof_raw_bytes`); None if unknown."""
        return None

    def not_reached(self, result: ModelResult) -> tuple[str, ...]:
        """The stages a failure kept from running: by default, those with no record."""
        return tuple(stage for stage in self.stages if stage not in result.stages)


class FixedPointNodeAdapter(Adapter):
    """Base of the adapters that write the zoo model as a program in fixed point (inputs and weights at
    10^decimals) and run each stage as a node script: o1js and Noir. They share the stages, the variant
    setting, the files measured and the default variant; each gives its script, labels and pipeline."""

    toolchains = (NODE,)
    variant_settings = {"decimals": (int,)}
    stages = ("accuracy", "setup", "prove", "verify")
    size_files = {"proof_bytes": "proof", "vk_bytes": "vk"}
    default_decimals: ClassVar[int] = 3

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("default", (("decimals", cls.default_decimals),)),)


@dataclass
class StageCall:
    """A stage to run in a child: the argv, and the JSON file through which the child reports.

    `pure_of`, when given, says what the stage makes is a function of these files (or bytes an adapter
    made canonical) and of the build alone, so `run_stage` may read it back instead of running the stage
    (tracker.adapters.stage_cache): its data, and the `products`, the files later stages read (put back
    as hard links: an adapter unlinks, never rewrites in place, the files of a reused work dir)."""

    stage: str
    argv: Sequence[str | os.PathLike]
    result_file: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    pure_of: Sequence[Path | bytes] = ()
    products: Sequence[Path] = ()


def child_env(job: ModelJob, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A small, known environment: PATH, a HOME inside the work dir, pinned locale, plus the build's own."""
    home = job.workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(job.workdir),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(dict(job.build.env))
    env.update(extra or {})
    return env


def run_stage(job: ModelJob, result: ModelResult, call: StageCall) -> dict[str, Any] | None:
    """Run one stage and record it in `result`; return the data the child reported, or None if it failed.

    The child writes `{"samples": [...], "cpu": [...], "data": {...}}` to `call.result_file`, and
    `"peak_rss": [...]` (each repeat's own peak, bytes) where it can, with `"peak_rss_cleared"` (the
    highest peak its resets cleared); the samples are the stage's own times, measured where it runs.
    """
    if call.pure_of:
        return _run_remembered(job, result, call)
    return _run_child(job, result, call)


def _run_child(job: ModelJob, result: ModelResult, call: StageCall) -> dict[str, Any] | None:
    call.result_file.unlink(missing_ok=True)
    log = job.workdir / "logs" / f"{call.stage}.log"
    stage = StageResult(call.stage)
    meter, result.energy = energy.meter_or_reason(energy.powercap_root())
    try:
        m = run_measured(call.argv, log_path=log, cwd=call.cwd or job.workdir,
                         env=child_env(job, call.env), limits=job.limits)
    except ChildFailed as exc:
        stage.status, stage.reason = exc.kind, exc.reason
        if exc.kind in (Status.TIMEOUT, Status.OUT_OF_MEMORY):
            stage.limit = (f"{job.limits.timeout_s:g} s" if exc.kind == Status.TIMEOUT
                           else f"{job.limits.memory_mb} MiB")
        if exc.measurement:
            stage.peak_rss_bytes, stage.child_wall_s = exc.measurement.peak_rss_bytes, exc.measurement.wall_s
        result.add(stage)
        return None
    stage.peak_rss_bytes, stage.child_wall_s = m.peak_rss_bytes, m.wall_s
    stage.energy_j, result.energy = energy.read_or_reason(meter, result.energy)
    report = read_json(call.result_file)
    if not isinstance(report, dict) or not isinstance(report.get("samples"), list):
        stage.status, stage.reason = Status.ERROR, f"stage wrote no result file ({call.result_file.name})"
        result.add(stage)
        return None
    stage.samples_s = [float(x) for x in report["samples"]]
    stage.cpu_s = [float(x) for x in report.get("cpu", [])]
    stage.peak_rss_samples = repeat_peaks(report, len(stage.samples_s))
    # a child that reset its high-water mark to measure each repeat cleared the kernel's peak (wait4's) with
    # it; and the mark it reads counts the memory resident at that moment, which the kernel's own peak (kept
    # lazily) can miss once the memory is let go: the whole peak is at least every peak the child saw
    cleared = report.get("peak_rss_cleared")
    seen = [cleared] if _is_bytes(cleared) else []
    stage.peak_rss_bytes = max([stage.peak_rss_bytes, *seen, *stage.peak_rss_samples])
    result.add(stage)
    return report.get("data") or {}


def repeat_peaks(report: dict, repeats: int) -> list[int]:
    """Each repeat's own peak resident bytes, as the child reported them under "peak_rss" (one a sample);
    none where it could not measure its repeats apart (no /proc to reset a high-water mark, one process
    for every repeat) or reported a list that does not match its samples."""
    peaks = report.get("peak_rss")
    if not isinstance(peaks, list) or len(peaks) != repeats or not all(map(_is_bytes, peaks)):
        return []
    return list(peaks)


def _is_bytes(x) -> bool:
    """A count of bytes a child reported: a positive whole number (JSON's true is not one)."""
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _run_remembered(job: ModelJob, result: ModelResult, call: StageCall) -> dict | None:
    """A pure stage: read back when the same build met the same inputs before, else run and kept
    (only after a clean run); a stage read back says so, and has no samples of its own. When the job
    re-measures, a stage whose timing or memory is a metric (ezkl's key setup) runs whatever is kept: a
    setup-time candidate can be confirmed only on fresh samples."""
    if job.remeasure and call.stage in MEASURED_STAGES:
        return _run_child(job, result, call)
    entry = stage_cache.entry_for(job.cache_dir, [job.framework.name, job.build.revision, call.stage,
                                                  *call.pure_of])
    data = stage_cache.recall(entry, call.products)
    if data is not None:
        result.add(StageResult(call.stage, reason=f"reused {entry.name}: same build, same circuit and inputs"))
        return data
    data = _run_child(job, result, call)
    if data is not None:
        stage_cache.remember(entry, data, call.products)
    return data


def timed_stage(job: ModelJob, result: ModelResult, stage: str, command: str, repeats: int,
                cwd: Path | None = None) -> dict[str, Any] | None:
    """A shell command as a stage, run `repeats` times (at least once) by TIMED_SCRIPT, which reports
    each run's wall time, its start-up included. An environment variable goes in the command itself."""
    out = job.workdir / f"{stage}.json"
    # the script needs only the standard library: -I -S spares it the venv's site (50 ms a stage here)
    argv = [sys.executable, "-I", "-S", TIMED_SCRIPT, out, str(max(1, repeats)), command]
    return run_stage(job, result, StageCall(stage, argv, out, cwd=cwd))


def tracker_failure(job: ModelJob, exc: Exception) -> str:
    """The reason recorded for a failure on the tracker's side; its traceback goes to logs/tracker.log."""
    log = job.workdir / "logs" / "tracker.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    except OSError:
        pass  # the reason below is still recorded
    return f"tracker: {type(exc).__name__}: {exc}"[:400]


def mark_skipped(result: ModelResult, stages: Sequence[str]) -> None:
    """Stages a failure kept from running are listed as skipped, with the reason."""
    if result.status == Status.OK:
        return
    for stage in stages:
        if stage not in result.stages:
            result.stages[stage] = StageResult(stage, status=Status.SKIPPED, reason="not run: " + result.reason)


def generate_at_decimals(job: ModelJob, result: ModelResult, generate: Callable[[Any, int], Generated],
                         default: int, generator: str) -> Generated | None:
    """What a code generator (circom's circuit, o1js's and Noir's programs) writes for `job.model` at the variant's
    `decimals` (kept in the settings), or None with the generator's reason in `result` when it cannot."""
    decimals = int(job.variant.as_dict().get("decimals", default))
    result.settings["decimals"] = decimals
    try:
        return generate(job.model, decimals)
    except Unsupported as exc:
        result.fail(Status.UNSUPPORTED, f"{generator}: {exc}")
        return None


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
