"""A framework driven by shell commands from frameworks.yaml: for provers with a CLI and no adapter yet.

`stages:` maps setup/prove/verify to commands, run in the build's source checkout with placeholders
{src}, {workdir}, {model}, {onnx}, {input}, {proof}, {vk}, {pk}. Proof and key sizes are the sizes of
those files; a command may also write {workdir}/metrics.json with `circuit` and `accuracy` tables. Each
timing includes the command's own start-up (it is timed from outside), and the record says so.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracker.adapters.base import Adapter, timed_stage
from tracker.fsutil import read_json
from tracker.records import ModelResult, Status
from tracker.types import ModelJob


class CommandAdapter(Adapter):
    name = "command"  # `stages` left empty: a stage frameworks.yaml leaves out is not "skipped" on a failure
    size_files = {"proof_bytes": "proof", "vk_bytes": "vk", "pk_bytes": "pk"}

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        from tracker.models.zoo import eval_set, export_onnx

        stages = dict(job.framework.stages)
        if "prove" not in stages:
            result.fail(Status.ERROR, "a 'command' framework needs stages.prove in frameworks.yaml")
            return
        inputs, _ = eval_set(job.model, 1)
        export_onnx(job.model, job.workdir / "model.onnx")
        places = {
            "src": str(job.build.source or job.build.path), "workdir": str(job.workdir), "model": job.model.name,
            "onnx": str(job.workdir / "model.onnx"),
            "input": str(_write(job.workdir / "input.json", {"input_data": [inputs[0].ravel().tolist()]})),
            "proof": str(job.workdir / "proof"), "vk": str(job.workdir / "vk"), "pk": str(job.workdir / "pk"),
        }
        result.provenance["timing"] = "wall time of each command, its start-up included"
        files.update((name, places[name]) for name in ("proof", "vk", "pk"))
        for stage in ("setup", "prove", "verify"):
            if stage not in stages:
                continue
            repeats = 1 if stage == "setup" else job.repeats
            if timed_stage(job, result, stage, stages[stage].format(**places), repeats,
                           cwd=Path(places["src"])) is None:
                return
        extra = read_json(job.workdir / "metrics.json") or {}
        result.circuit.update({k: v for k, v in extra.get("circuit", {}).items() if isinstance(v, (int, float))})
        result.accuracy.update({k: v for k, v in extra.get("accuracy", {}).items() if isinstance(v, (int, float))})


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path
