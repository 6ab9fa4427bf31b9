"""EZKL (Halo2, KZG): an ONNX model through settings, calibration, compile, SRS, keys, witness, prove, verify.

Each stage runs `scripts/ezkl_stage.py` under the release's own interpreter (`build.python`). The SRS is
made locally with `gen_srs` (insecure, which is fine for benchmarks, and never downloaded), once per
logrows for the whole cache, since keys depend on the SRS they were made with. ezkl's own cache goes to
$HOME/.ezkl, and HOME is inside the work dir. Accuracy comes from witnesses over the evaluation set.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tracker.adapters.base import Adapter, Job, StageCall, file_size, run_stage, write_json
from tracker.config import Variant
from tracker.fsutil import read_json
from tracker.records import ModelResult

SCRIPT = Path(__file__).parent / "scripts" / "ezkl_stage.py"
CALIBRATION_SAMPLES = 16
PIPELINE = ("settings", "compile", "srs", "setup", "witness", "prove", "verify", "accuracy")


class EzklAdapter(Adapter):
    name = "ezkl"
    variant_settings = {
        "calibration_target": (str, "resources", "accuracy"),
        "input_scale": (int,),
        "param_scale": (int,),
        "logrows": (int,),
        "lookup_margin": (int,),
    }

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("resources", (("calibration_target", "resources"),)),
                Variant("accuracy", (("calibration_target", "accuracy"),)))

    def prove(self, job: Job) -> ModelResult:
        result = job.new_result()
        args = self._prepare(job)
        for stage in PIPELINE:
            if stage == "srs":
                args["srs"] = self._srs(job, result, args)
                if args["srs"] is None:
                    return result
                continue
            data = self._run(job, result, stage, args)
            if data is None:
                return result
            if stage == "settings":
                args.update(self._read_settings(result, Path(args["settings"])))
            if stage == "accuracy":
                result.accuracy = accuracy(job, np.array(data["outputs"], dtype=np.float64))
        self._sizes(result, args)
        return result

    def _prepare(self, job: Job) -> dict:
        from tracker.models.zoo import eval_set, export_onnx

        wd = job.workdir
        inputs, _ = eval_set(job.model, job.eval_count)
        flat = inputs.reshape(len(inputs), -1)
        v = job.variant.as_dict()
        return {
            "model": str(export_onnx(job.model, wd / "model.onnx")),
            "settings": str(wd / "settings.json"), "compiled": str(wd / "model.compiled"),
            "vk": str(wd / "vk.key"), "pk": str(wd / "pk.key"), "proof": str(wd / "proof.json"),
            "witness": str(wd / "witness.json"),
            "data": str(write_json(wd / "input.json", {"input_data": [flat[0].tolist()]})),
            "calibration": str(write_json(wd / "calibration.json",
                                          {"input_data": [flat[:CALIBRATION_SAMPLES].ravel().tolist()]})),
            "inputs": str(write_json(wd / "eval_inputs.json", flat.tolist())),
            "target": v.get("calibration_target", "resources"),
            "input_scale": v.get("input_scale"), "param_scale": v.get("param_scale"),
            "logrows": v.get("logrows"), "lookup_margin": v.get("lookup_margin"),
            "repeats": job.repeats,
        }

    def _run(self, job: Job, result: ModelResult, stage: str, args: dict) -> dict | None:
        args_file = write_json(job.workdir / f"{stage}.args.json", args)
        out = job.workdir / f"{stage}.result.json"
        return run_stage(job, result, StageCall(stage, [job.build.python, SCRIPT, stage, args_file, out], out))

    def _read_settings(self, result: ModelResult, path: Path) -> dict:
        """The settings ezkl actually chose after calibration: they change between releases."""
        settings = read_json(path) or {}
        run_args = settings.get("run_args", {})
        used = {k: run_args.get(k) for k in ("input_scale", "param_scale", "logrows", "lookup_range",
                                             "scale_rebase_multiplier", "check_mode", "input_visibility",
                                             "output_visibility", "param_visibility") if k in run_args}
        result.settings.update({f"used_{k}": v for k, v in used.items()})
        result.circuit["logrows"] = int(run_args.get("logrows", 0))
        for key in ("num_rows", "total_assignments", "total_const_size"):
            if isinstance(settings.get(key), int):
                result.circuit[key] = settings[key]
        scales = settings.get("model_output_scales") or [run_args.get("input_scale", 7)]
        return {"logrows": result.circuit["logrows"], "output_scale": scales[0]}

    def _srs(self, job: Job, result: ModelResult, args: dict) -> str | None:
        """One SRS per logrows for the whole cache, made atomically so a crash never leaves half of one."""
        srs = job.cache_dir / "srs" / f"kzg{args['logrows']}.srs"
        result.provenance["srs"] = "local gen_srs (insecure, for benchmarks), cached per logrows"
        if srs.exists():
            return str(srs)
        srs.parent.mkdir(parents=True, exist_ok=True)
        tmp = srs.with_name(f".{srs.name}.{os.getpid()}.tmp")
        made = self._run(job, result, "srs", {**args, "srs": str(tmp)})
        if made is None:
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, srs)
        return str(srs)

    def _sizes(self, result: ModelResult, args: dict) -> None:
        result.sizes.update(proof_bytes=file_size(Path(args["proof"])), vk_bytes=file_size(Path(args["vk"])),
                            pk_bytes=file_size(Path(args["pk"])), srs_bytes=file_size(Path(args["srs"])))
        proof = read_json(Path(args["proof"])) or {}
        if isinstance(proof.get("proof"), list):
            result.sizes["proof_raw_bytes"] = len(proof["proof"])
        elif isinstance(proof.get("proof"), str):
            result.sizes["proof_raw_bytes"] = len(proof["proof"].removeprefix("0x")) // 2


def accuracy(job: Job, circuit_outputs: np.ndarray) -> dict[str, float]:
    """Circuit outputs against the float model's on the same inputs: max abs error and top-1 agreement."""
    from tracker.models.zoo import eval_set, float_outputs

    inputs, _ = eval_set(job.model, job.eval_count)
    reference = float_outputs(job.model, inputs)
    return {
        "max_abs_error": float(np.max(np.abs(circuit_outputs - reference))),
        "top1_agreement": float(np.mean(circuit_outputs.argmax(1) == reference.argmax(1))),
        "n": int(len(inputs)),
    }
