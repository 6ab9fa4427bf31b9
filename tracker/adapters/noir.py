"""Noir + Barretenberg (UltraHonk, a sumcheck PLONK with KZG over bn254), per npm release of `@aztec/bb.js`.

The history is bb.js's npm releases; each build is an npm prefix with that bb.js and the Noir compiler
(`@noir-lang/noir_wasm`) and executor (`@noir-lang/noir_js`) that match it: a Noir release writes ACIR
and witnesses in one serialization, and a bb.js release reads one (a mismatch aborts in bb.js's WASM,
"Input is not large enough" or "expected msgpack format marker"). `COMPILERS` is what was seen to prove
and verify together here. `tracker.adapters.noirgen` writes the zoo model as a Noir program in fixed
point; each stage is a child, `scripts/noir_stage.mjs` under node, timing only the work.

Order: accuracy (compile, then execute on every evaluation input: witness only), setup (UltraHonk's
verification key: the circuit built from the ACIR and committed to; the metric stays setup_time), prove,
verify. The CRS is the tracker's known-tau one (`tracker.adapters.bbcrs`), since bb.js would download
Aztec's from a host out of reach here; a release that cannot take it is recorded `unsupported`, with why:
from 0.87.0 bb.js's verifier uses the ceremony's [tau]_2 built into it (a `bn254_g2.dat` of garbage
changes nothing, and a proof against any other tau does not verify), and 5.0.0 refuses a G1 whose second
point is not the ceremony's tau G1 at load
("SrsInitSrs: g1_points[1] does not match the canonical trusted-setup tau·G").
"""
from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.version import Version

from tracker.adapters.base import FixedPointNodeAdapter, StageCall, generate_at_decimals, run_stage, write_json
from tracker.adapters.bbcrs import KNOWN_TAU, crs_dir
from tracker.adapters.noirgen import NoirProgram, generate, write_project
from tracker.records import ModelResult, Status
from tracker.types import ModelJob

SCRIPT = Path(__file__).parent / "scripts" / "noir_stage.mjs"
# (first bb.js release, last bb.js release, the Noir release that goes with them): proved and verified
# together here with a known-tau CRS at 0.72.1, 0.75.0, 0.76.4, 0.81.0, 0.82.0, 0.82.2 (1.0.0-beta.3) and
# 0.82.3, 0.84.0, 0.85.0 (1.0.0-beta.7); the releases between take the same compiler
COMPILERS = (("0.72.0", "0.82.2", "1.0.0-beta.3"), ("0.82.3", "0.85.99", "1.0.0-beta.7"))
CANNOT = (
    ("0.86.0", "0.86.99", "bb.js 0.86.0 does not load: its dest/ imports 'msgpackr/pack', a package it does not "
                          "depend on"),
    ("0.87.0", "4.99.99", "bb.js {v}'s verifier ignores bn254_g2.dat and uses the ceremony's [tau]_2 built in: a "
                          "proof against a locally made CRS fails the pairing check, and the ceremony's CRS is "
                          "downloaded from crs.aztec-cdn.foundation / crs.aztec-labs.com, out of reach here"),
    ("5.0.0", "999", "bb.js {v} refuses a locally made CRS at load (SrsInitSrs: g1_points[1] does not match the "
                     "canonical trusted-setup tau·G; its native bb verifies against the ceremony's [tau]_2 built "
                     "in) and downloads the ceremony's from crs.aztec-cdn.foundation / crs.aztec-labs.com, out of "
                     "reach here"),
)


def compiler_for(version: str | None) -> str | None:
    """The Noir release that goes with bb.js `version`, None where none was seen to."""
    v = Version(version or "0")
    return next((noir for first, last, noir in COMPILERS if Version(first) <= v <= Version(last)), None)


def why_not(version: str | None) -> str:
    """Why bb.js `version` cannot run here (one line), for a release with no compiler in COMPILERS."""
    v = Version(version or "0")
    for first, last, reason in CANNOT:
        if Version(first) <= v <= Version(last):
            return reason.format(v=version)
    return (f"bb.js {version}: no Noir compiler release is known to go with it (ACIR and witness formats "
            f"differ between releases); known: 0.72.0 to 0.85.x")


class NoirAdapter(FixedPointNodeAdapter):
    name = "noir"
    stage_labels = {"setup": "verification key (circuit from ACIR)"}

    def recipe_for(self, framework, revision):
        """frameworks.yaml's recipe (bb.js at the release) plus the Noir compiler that goes with it; bb.js
        alone where none is known (the pipeline records why it cannot run)."""
        noir = compiler_for(revision.version)
        if noir is None:
            return framework
        recipe = framework.build
        extra = (f"@noir-lang/noir_wasm@{noir}", f"@noir-lang/noir_js@{noir}")
        return replace(framework, build=replace(recipe, requirements=(*recipe.requirements, *extra)))

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        noir = compiler_for(job.build.version)
        if noir is None:
            result.fail(Status.UNSUPPORTED, why_not(job.build.version))
            return
        program = self.program(job, result)
        if program is None:
            return
        args = stage_args(job, program)
        files.update(proof=args["proof"], vk=args["vk"])
        result.provenance.update(circuit="generated by zkml-tracker (noirgen): a Noir program, weights as "
                                         "private inputs", crs=f"{KNOWN_TAU} ({args['crs']})")
        for stage in self.stages:
            out = job.workdir / "stages" / f"{stage}.result.json"
            argv = ["node", SCRIPT, stage, write_json(out.with_suffix(".args.json"), args), out]
            data = run_stage(job, result, StageCall(stage, argv, out))
            if data is None or not record_stage(job, result, program, stage, data):
                return

    def program(self, job: ModelJob, result: ModelResult) -> NoirProgram | None:
        program = generate_at_decimals(job, result, generate, self.default_decimals, "noirgen")
        if program is None:
            return None
        write_project(job.workdir / "project", job.model.name, program)
        plan = program.plan
        result.settings.update(output_scale=f"10^{round(math.log10(plan.output_scale))}",
                               compare_bound=f"2^{plan.bound.bit_length() - 1}")
        return program


def stage_args(job: ModelJob, program: NoirProgram) -> dict[str, Any]:
    """What every stage reads: the project, weights, images (the first one is proved), where outputs go."""
    from tracker.models.zoo import eval_set

    if job.build.node_prefix is None:
        raise ValueError(f"build {job.build.revision} has no npm prefix")
    inputs, _ = eval_set(job.model, job.eval_count)
    wd = job.workdir
    return {"prefix": str(job.build.node_prefix), "project": str(wd / "project"), "crs": str(crs_dir()),
            "weights": [str(v) for v in program.plan.weights],
            "images": [program.plan.input_values(x) for x in inputs],
            "artifact": str(wd / "program.json"), "witness": str(wd / "witness.gz"), "vk": str(wd / "vk"),
            "proof": str(wd / "proof"), "outputs": program.plan.n_outputs, "repeats": max(1, job.repeats),
            "threads": os.cpu_count() or 1}


def record_stage(job: ModelJob, result: ModelResult, program: NoirProgram, stage: str, data: dict) -> bool:
    """What a stage reported, into the record; False (the failure recorded) when the proof is not of the
    outputs the accuracy pass computed for the same image."""
    if stage == "accuracy":
        from tracker.models.accuracy import accuracy

        result.accuracy = accuracy(job, [program.plan.dequantize(o).tolist() for o in data["outputs"]])
        result.provenance.update(noir_version=str(data.get("noir_version", "unknown")),
                                 noir_compile_s=f"{float(data.get('compile_s', 0)):.1f}",
                                 witnessed_outputs=",".join(data["outputs"][0]))
    elif stage == "setup":
        result.circuit["gates"] = int(data["gates"])
        result.circuit["logrows"] = max(1, int(data["dyadic"]) - 1).bit_length()
        result.provenance["bbjs_version"] = str(data.get("bbjs", "unknown"))
    elif stage == "prove":
        result.provenance["proved_outputs"] = ",".join(data.get("outputs", []))
        if result.provenance["proved_outputs"] != result.provenance.get("witnessed_outputs"):
            result.fail(Status.ERROR, "prove: the proof's public inputs are not the program's outputs on the "
                                      "same input (the accuracy pass)")
            return False
    return True
