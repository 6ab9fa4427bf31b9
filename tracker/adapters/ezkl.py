"""EZKL (Halo2, KZG): an ONNX model through settings, calibration, compile, SRS, keys, witness, prove, verify.

Each stage is a child process: `scripts/ezkl_stage.py` under the release's own interpreter
(`build.python`), measured by `run_stage` (whole-tree peak RSS, the job's timeout and memory cap); the
child times only the ezkl call. The releases on PyPI that install on CPython 3.11 here (18.1.5 to 23.0.5)
differ in ways the stage script absorbs (`proof_type` up to 22.x, awaitables up to 22.0.x).

The SRS is made locally with `gen_srs`, never downloaded: insecure (this machine knew the toxic waste),
which is fine for benchmarks. Keys depend on the SRS they were made with, so there is one SRS per logrows
for the whole cache directory, shared by every model and release, published with a hard link so that an
SRS some job is already using is never replaced. ezkl's own cache ($HOME/.ezkl) lands in the job's work
dir because `child_env` puts HOME there.

Accuracy needs no proof: the circuit's witness is its quantized forward pass, so the accuracy stage
makes one witness per evaluation input, in one child (with a spawned worker per core when there are
hundreds of inputs), and compares the dequantized outputs with the float model's (onnx's reference
evaluator).

Keys and witnesses are kept by build, model, circuit (and SRS, or inputs) in `stage_cache`: a variant that
calibrates to the same circuit as another (23.0.5 does so for both targets on every standard net), or a
rerun with --force, links the keys and reads the witnesses back instead of making them again. Setup is the
costliest stage: 84 s and a 4.6 GB proving key for a 28x28 conv net.

Within one revision's run, a variant whose keys were linked from another's proves the same circuit with the
same keys on the same input: its prove and verify are that variant's, measured once for both (the stage
says so), not measured again. The tiny suite's variants calibrate to one circuit on every net in 23.0.x,
so this halves the proving of a first run. Another run (--force, a nightly, a verdict's re-measuring)
proves afresh.
"""
from __future__ import annotations

import dataclasses
import json
import os
import uuid
from pathlib import Path
from typing import Any

from tracker.adapters import stage_cache
from tracker.adapters.base import Adapter, StageCall, file_size, run_stage, write_json
from tracker.fsutil import publish_once, read_json
from tracker.models.accuracy import accuracy
from tracker.records import ModelResult, StageResult, Status
from tracker.types import ModelJob, Variant

SCRIPT = Path(__file__).parent / "scripts" / "ezkl_stage.py"
PIPELINE = ("settings", "compile", "srs", "setup", "witness", "prove", "verify", "accuracy")
# calibration data: images of the training split (tracker/models/data/calibration_*.npz), never evaluation
# images, so the circuit is not tuned to the inputs its accuracy is measured on
CALIBRATION_SAMPLES = 16
# setup makes the keys (pk is 138 MB at logrows 15): one sample per model, it is the costliest stage
SETUP_REPEATS = 1
SRS_PROVENANCE = ("local gen_srs: insecure (the toxic waste was known to this machine), fine for benchmarks, "
                  "not for production; one per logrows, shared by all models and releases of the cache")
# what one proof is and checks: with the same circuit, keys and input, a variant's proof is another's
PROOF_STAGES = ("prove", "verify")
# run_args read back from settings.json after calibration (not all exist in every release)
USED_RUN_ARGS = ("input_scale", "param_scale", "logrows", "lookup_range", "scale_rebase_multiplier",
                 "check_mode", "input_visibility", "output_visibility", "param_visibility", "num_inner_cols",
                 "decomp_base", "decomp_legs", "commitment")
CIRCUIT_COUNTS = ("num_rows", "total_assignments", "total_const_size")


@dataclasses.dataclass(frozen=True)
class Proved:
    """One variant's prove and verify, for a later variant of the same revision run with the same proof."""

    variant: str
    stages: tuple[StageResult, ...]
    proof: bytes


class EzklAdapter(Adapter):
    name = "ezkl"
    stages = PIPELINE
    size_files = {"proof_bytes": "proof", "vk_bytes": "vk", "pk_bytes": "pk", "srs_bytes": "srs"}
    variant_settings = {
        "calibration_target": (str, "resources", "accuracy"),  # calibrate_settings(target=...)
        # the scale calibration may pick (`scales=[...]`); calibration ties param_scale to it in every
        # release seen (18.x-23.x), so there is no separate param_scale setting
        "input_scale": (int,),
        "logrows": (int,),        # the most rows calibration may use (`max_logrows`)
        "lookup_margin": (int,),  # calibrate_settings(lookup_safety_margin=...)
    }

    def __init__(self) -> None:
        self._proved: dict[str, Proved] = {}  # one revision's run (an adapter a revision): proof key -> proof

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("resources", (("calibration_target", "resources"),)),
                Variant("accuracy", (("calibration_target", "accuracy"),)))

    def not_reached(self, result: ModelResult) -> tuple[str, ...]:
        """An SRS read from the cache has no stage record, but was not skipped."""
        reused = result.provenance.get("srs_reused") == "yes"
        return tuple(stage for stage in super().not_reached(result) if not (stage == "srs" and reused))

    def proof_raw_bytes(self, proof: dict[str, Any]) -> int | None:
        """The proof's own bytes, without the JSON around them: a list of bytes or a hex string."""
        raw = proof.get("proof")
        if isinstance(raw, list):
            return len(raw)
        if isinstance(raw, str):
            return len(raw.removeprefix("0x")) // 2
        return None

    # --- the pipeline --------------------------------------------------------------------------------

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        if job.build.python is None:
            result.fail(Status.ERROR, f"build {job.build.revision} has no Python interpreter for ezkl")
            return
        args = files  # the stages' arguments are the files they make: their sizes are recorded from it
        args.update(self._prepare(job))
        result.settings["calibration_data"] = args["calibration_data"]
        for stage in PIPELINE:
            if stage == "srs":
                if not self._srs(job, result, args):
                    return
                continue
            if stage in PROOF_STAGES and (stage in result.stages or self._proved_by_twin(job, result, args)):
                continue
            data = self._run(job, result, stage, args)
            if data is None:
                return
            if stage == PROOF_STAGES[-1]:
                self._keep_proof(job, result, args)
            if stage == "settings":
                result.provenance["ezkl_version"] = str(data.get("ezkl_version", "unknown"))
                args.update(self._read_settings(result, Path(args["settings"])))
            elif stage == "accuracy":
                result.accuracy = accuracy(job, data["outputs"])
                result.provenance["accuracy_outputs"] = str(data.get("source", ""))
                result.provenance["accuracy_workers"] = str(data.get("workers", 1))

    def _prepare(self, job: ModelJob) -> dict[str, Any]:
        from tracker.models.zoo import calibration_note, calibration_set, eval_set, export_onnx

        wd = job.workdir
        wd.mkdir(parents=True, exist_ok=True)
        files = {"settings": "settings.json", "compiled": "model.compiled", "vk": "vk.key", "pk": "pk.key",
                 "proof": "proof.json", "witness": "witness.json"}
        for name in files.values():  # a reused work dir must not lend its old files to this result
            (wd / name).unlink(missing_ok=True)
        inputs, _ = eval_set(job.model, job.eval_count)
        calibration, _ = calibration_set(job.model, CALIBRATION_SAMPLES)
        flat = inputs.reshape(len(inputs), -1)
        v = job.variant.as_dict()
        result_args = {k: str(wd / name) for k, name in files.items()}
        result_args.update({
            "model": str(export_onnx(job.model, wd / "model.onnx")),
            "data": str(write_json(wd / "input.json", {"input_data": [flat[0].tolist()]})),
            # ezkl splits a long input into model-sized samples when it calibrates
            "calibration": str(write_json(wd / "calibration.json",
                                          {"input_data": [calibration.reshape(-1).tolist()]})),
            "calibration_data": calibration_note(job.model),
            "inputs": str(write_json(wd / "eval_inputs.json", flat.tolist())),
            "target": v.get("calibration_target", "resources"),
            "input_scale": v.get("input_scale"),
            "logrows": v.get("logrows"), "lookup_margin": v.get("lookup_margin"),
            "repeats": max(1, job.repeats), "setup_repeats": SETUP_REPEATS,
            "workers": os.cpu_count() or 1,  # the accuracy pass: witnesses in parallel
        })
        return result_args

    def _run(self, job: ModelJob, result: ModelResult, stage: str, args: dict[str, Any]) -> dict | None:
        args_file = write_json(job.workdir / "stages" / f"{stage}.args.json", args)
        out = job.workdir / "stages" / f"{stage}.result.json"
        pure_of, products = self._pure(stage, args)
        return run_stage(job, result, StageCall(stage, [job.build.python, SCRIPT, stage, args_file, out], out,
                                                pure_of=pure_of, products=products))

    @staticmethod
    def _pure(stage: str, args: dict[str, Any]) -> tuple[list[Path | bytes], list[Path]]:
        """What the keys and the witnesses depend on (the same model and circuit give the same ones), and
        the files that go with the keys: a variant calibrated to the same circuit reads them back
        (stage_cache). The keys come with the compiled circuit and settings they were made for: ezkl
        writes the circuit's range checks in a different order in each calibration, and a proving key
        made for another order does not fit (23.0.5's prove hung on one, rather than failing)."""
        if stage not in ("setup", "accuracy"):
            return [], []
        circuit = [SCRIPT, Path(args["model"]), circuit_identity(Path(args["settings"]))]
        if stage == "setup":
            return ([*circuit, srs_identity(Path(args["srs"]))],
                    [Path(args[name]) for name in ("compiled", "settings", "pk", "vk")])
        return [*circuit, Path(args["inputs"])], []

    def _proof_key(self, job: ModelJob, args: dict[str, Any]) -> str | None:
        """What a proof is a function of: the build, the circuit and SRS its keys were set up from (the
        setup's own inputs, as the stage cache keys it), the witness, the repeats, and the limits it runs
        under (a variant capped in memory finds out for itself); None when the job re-measures (a verdict
        needs each variant's own samples)."""
        if job.remeasure:
            return None
        setup_of, _ = self._pure("setup", args)
        return stage_cache.entry_for(job.cache_dir, [job.framework.name, job.build.revision, "proof", *setup_of,
                                                     Path(args["witness"]), str(job.repeats), repr(job.limits)]).name

    def _proved_by_twin(self, job: ModelJob, result: ModelResult, args: dict[str, Any]) -> bool:
        """Take prove and verify from the variant of this run that proved the same circuit with the same
        keys on the same input; False (the stage runs) when none did."""
        key = self._proof_key(job, args)
        twin = self._proved.get(key) if key else None
        if twin is None:
            return False
        Path(args["proof"]).write_bytes(twin.proof)
        for stage in twin.stages:
            result.add(dataclasses.replace(stage, reason=f"measured once for [{twin.variant}] and this variant "
                                                         f"in this run: same build, circuit, SRS and input"))
        return True

    def _keep_proof(self, job: ModelJob, result: ModelResult, args: dict[str, Any]) -> None:
        key = self._proof_key(job, args)
        proof = Path(args["proof"])
        if key and proof.exists() and all(result.stages.get(s) and result.stages[s].ok for s in PROOF_STAGES):
            self._proved.setdefault(key, Proved(job.variant.name, tuple(result.stages[s] for s in PROOF_STAGES),
                                                proof.read_bytes()))

    def _read_settings(self, result: ModelResult, path: Path) -> dict[str, Any]:
        """What ezkl chose after calibration (the defaults move between releases), next to what was asked."""
        settings = read_json(path)
        if not isinstance(settings, dict) or not isinstance(settings.get("run_args"), dict):
            raise ValueError(f"{path.name} after calibration has no run_args")
        run_args = settings["run_args"]
        result.settings.update({f"used_{k}": run_args[k] for k in USED_RUN_ARGS if k in run_args})
        if settings.get("model_output_scales"):
            result.settings["used_output_scale"] = settings["model_output_scales"][0]
        result.settings["calibration_samples"] = CALIBRATION_SAMPLES
        result.circuit["logrows"] = int(run_args["logrows"])
        for key in CIRCUIT_COUNTS:
            if isinstance(settings.get(key), int):
                result.circuit[key] = settings[key]
        for key in ("required_lookups", "required_range_checks"):
            if isinstance(settings.get(key), list):
                result.circuit[key] = len(settings[key])
        scales = settings.get("model_output_scales") or [run_args.get("input_scale")]
        return {"logrows": int(run_args["logrows"]), "output_scale": int(scales[0])}

    def _srs(self, job: ModelJob, result: ModelResult, args: dict[str, Any]) -> bool:
        """One SRS per logrows for the whole cache: made once (in a temp file), then published, never replaced."""
        srs = srs_path(job.cache_dir, args["logrows"])
        result.provenance["srs"] = SRS_PROVENANCE
        result.provenance["srs_file"] = str(srs)
        if file_size(srs) > 0:
            result.provenance["srs_reused"] = "yes"
        else:
            srs.parent.mkdir(parents=True, exist_ok=True)
            tmp = srs.with_name(f".{srs.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                if self._run(job, result, "srs", {**args, "srs": str(tmp)}) is None:
                    return False
                publish_once(tmp, srs)
            finally:
                tmp.unlink(missing_ok=True)
            result.provenance["srs_reused"] = "no"
        args["srs"] = str(srs)
        return True


def srs_path(cache_dir: Path, logrows: int) -> Path:
    return cache_dir / "srs" / f"kzg{int(logrows)}.srs"


def srs_identity(path: Path) -> bytes:
    """The SRS file as keys depend on it: published once and never replaced, so its name, size and time."""
    st = path.stat()
    return f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}".encode()


def circuit_identity(settings_path: Path) -> bytes:
    """The settings that define the compiled circuit, canonical: ezkl writes a timestamp into
    settings.json and its maps and its sets of lookups and range checks in no fixed order, so two
    calibrations that chose the same circuit write different bytes (and so do their compiled files)."""
    settings = read_json(settings_path) or {}
    settings.pop("timestamp", None)
    for key in ("required_lookups", "required_range_checks"):
        if isinstance(settings.get(key), list):
            settings[key] = sorted(settings[key], key=lambda x: json.dumps(x, sort_keys=True))
    return json.dumps(settings, sort_keys=True).encode()
