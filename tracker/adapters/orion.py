"""Orion (Cairo, STARK): a zoo model written as a Scarb package on Orion, executed, proved and verified.

Orion is a Cairo library (an ONNX runtime's operators), not a converter: its tutorials write a model's
tensors out as Cairo source from Python and call `NNTrait::linear` / `NNTrait::relu` on them
(docs/academy/tutorials/mnist-classification-with-orion.md); ONNX -> Cairo was Giza's hosted `giza
transpile`. So the tracker writes that package itself, in FP16x16 fixed point, with Orion as a path
dependency on the revision under test. Dense nets only: a model with convolutions is recorded as
unsupported, with that reason.

Two figures are kept apart, because a public comparison once timed `scarb cairo-run` and called it proving:
- `execute`: the Cairo VM runs the program. No proof. Labelled as such in the record.
- `prove` / `verify`: a real STARK proof of that execution and its verification, with the prover Scarb
  integrates from 2.10 on (`scarb execute --target bootloader --output standard`, then `scarb prove
  --execution-id N` and `scarb verify --execution-id N`, stwo-cairo). Orion pins Scarb 2.6.4, which has
  neither: with a Scarb older than 2.10 the package is run with `scarb cairo-run` (execute only) and the
  prove and verify stages are recorded as unsupported, saying which Scarb would have them.
Each timing is the command's wall time, Scarb's start-up included (`timed_command`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from tracker.adapters.base import Adapter, file_size, timed_stage
from tracker.adapters.toolchains import SCARB
from tracker.measure import ChildFailed, no_verdict, output_of, run_measured
from tracker.models.accuracy import first_input_reference, single_input_accuracy
from tracker.records import ModelResult, StageResult, Status
from tracker.types import Build, BuildError, ModelJob, Unsupported

PROVE_SINCE = (2, 10, 0)
FP_ONE = 1 << 16  # FP16x16
PACKAGE = "zkml_tracker_model"
PIPELINE = ("compile", "execute", "trace", "prove", "verify")
EXECUTE_LABEL = "execute: the Cairo VM runs the model, no proof is made"


class OrionAdapter(Adapter):
    name = "orion"
    toolchains = (SCARB,)
    stages = PIPELINE

    def build(self, framework, revision, source: Path | None, build_dir: Path, log_path: Path) -> Build:
        """Orion's own documented step: `scarb build` in the checkout (it fetches Orion's git dependencies)."""
        if source is None:
            raise BuildError("orion builds from a source checkout: give the framework a 'commits' history")
        try:
            run_measured(["scarb", "build"], log_path=log_path, cwd=source, limits=framework.build.limits)
        except ChildFailed as exc:
            if no_verdict(exc):  # a limit or a kill from outside: the build is tried again
                raise
            raise BuildError(f"scarb build in the orion checkout: {exc.reason}: {_last_line(log_path)}") from None
        return Build(framework=framework.name, revision=revision.sha, path=build_dir, source=source,
                     version=revision.version)

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        from tracker.models.zoo import eval_set, layer_params

        scarb, cairo = parse_scarb_version(output_of(["scarb", "--version"]))
        if scarb is None:
            result.fail(Status.ERROR, "`scarb --version` printed no version")
            return
        result.provenance.update({"scarb": _v(scarb), "cairo": _v(cairo or scarb), "execute": EXECUTE_LABEL,
                                  "timing": "wall time of each scarb command, its start-up included"})
        can_prove = scarb >= PROVE_SINCE
        x, _ = eval_set(job.model, 1)
        try:
            source = cairo_source(layer_params(job.model), x[0].reshape(-1), executable=can_prove)
        except Unsupported as exc:
            result.fail(Status.UNSUPPORTED, f"orion generator: {exc}")
            return
        project = job.workdir / PACKAGE
        write_project(project, manifest(job.build.source or job.build.path, cairo or scarb, can_prove), source)
        result.settings["fixed_point"] = "FP16x16"
        if timed_stage(job, result, "compile", "scarb build", 1, cwd=project) is None:
            return
        if timed_stage(job, result, "execute", execute_command(can_prove), job.repeats, cwd=project) is None:
            return
        runs = parse_execute((job.workdir / "logs" / "execute.log").read_text(errors="replace"))
        if runs and runs[-1].get("steps"):
            result.circuit["steps"] = runs[-1]["steps"]
        if runs and runs[-1].get("outputs"):
            result.accuracy = proved_output_accuracy(job, runs[-1]["outputs"])
        if not can_prove:
            for stage in ("prove", "verify"):
                result.stages[stage] = StageResult(stage, status=Status.UNSUPPORTED, reason=(
                    f"scarb {_v(scarb)} has no `scarb {stage}` (Scarb 2.10+ integrates the stwo-cairo prover)"))
            result.fail(Status.UNSUPPORTED, f"scarb {_v(scarb)}: execution timed only, no STARK proof "
                                       "(prove/verify need Scarb 2.10 or newer)")
            return
        self._prove(job, result, project)

    def _prove(self, job: ModelJob, result: ModelResult, project: Path) -> None:
        if timed_stage(job, result, "trace", trace_command(), 1, cwd=project) is None:
            return
        execution = parse_execution_id((job.workdir / "logs" / "trace.log").read_text(errors="replace"))
        if execution is None:
            result.fail(Status.ERROR, "trace: scarb execute did not say where it saved the execution")
            return
        for stage in ("prove", "verify"):
            if timed_stage(job, result, stage, prove_command(stage, execution), job.repeats, cwd=project) is None:
                return
        proof = project / "target" / "execute" / PACKAGE / f"execution{execution}" / "proof" / "proof.json"
        if file_size(proof):
            result.sizes["proof_bytes"] = file_size(proof)
        result.provenance["prover"] = "stwo-cairo through scarb prove (Circle STARK); transparent, no setup"


# --- commands (pure) ---------------------------------------------------------------------------------

def execute_command(can_prove: bool) -> str:
    """Execution only: `scarb execute` (2.10+), or `scarb cairo-run` on older Scarb (Orion's pinned 2.6.4)."""
    if can_prove:
        return "scarb execute --no-build --print-program-output --print-resource-usage"
    return "scarb cairo-run --no-build"


def trace_command() -> str:
    """An execution `scarb prove` accepts: under the bootloader, with the prover's input saved."""
    return "scarb execute --no-build --target bootloader --output standard"


def prove_command(stage: str, execution_id: int) -> str:
    return f"scarb {stage} --execution-id {int(execution_id)}"


def manifest(orion: Path, cairo_version: tuple[int, ...], executable: bool) -> str:
    """Scarb.toml of the generated package: Orion by path, and on 2.10+ an executable target."""
    lines = ["[package]", f'name = "{PACKAGE}"', 'version = "0.1.0"', "", "[dependencies]",
             f'orion = {{ path = "{orion}" }}']
    if executable:
        lines.insert(lines.index("[dependencies]"), "[[target.executable]]\n\n[cairo]\nenable-gas = false\n")
        lines.append(f'cairo_execute = "{_v(cairo_version)}"')
    return "\n".join(lines) + "\n"


def fp(value: float) -> str:
    q = int(round(float(value) * FP_ONE))
    return f"fp({abs(q)}, {'true' if q < 0 else 'false'})"


def _tensor(name: str, shape: tuple[int, ...], values: np.ndarray) -> str:
    data = ", ".join(fp(v) for v in np.asarray(values).reshape(-1))
    dims = ", ".join(str(d) for d in shape)
    return (f"fn {name}() -> Tensor<FP16x16> {{\n    TensorTrait::new(array![{dims}].span(), "
            f"array![{data}].span())\n}}\n")


def cairo_source(layers, x: np.ndarray, executable: bool) -> str:
    """lib.cairo: the input and weights as FP16x16 tensors, the forward pass, outputs as (mag, sign) felts."""
    parts = ["use orion::operators::tensor::{Tensor, TensorTrait, FP16x16Tensor};",
             "use orion::operators::nn::{NNTrait, FP16x16NN};",
             "use orion::numbers::{FP16x16, FixedTrait};", "",
             "fn fp(mag: u32, sign: bool) -> FP16x16 {\n    FixedTrait::new(mag, sign)\n}\n",
             _tensor("input", (x.size,), x)]
    body = ["    let x = input();"]
    for i, (layer, w, b) in enumerate(layers):
        if layer.kind == "dense":
            parts.append(_tensor(f"w{i}", (w.shape[1], w.shape[0]), w.T))  # Orion: weights are [out, in]
            parts.append(_tensor(f"b{i}", (b.size,), b))
            body.append(f"    let x = NNTrait::linear(x, w{i}(), b{i}());")
        elif layer.kind == "relu":
            body.append("    let x = NNTrait::relu(@x);")
        else:
            raise Unsupported(f"layer {layer.kind} is not written (dense and relu only)")
    parts.append("fn forward() -> Tensor<FP16x16> {\n" + "\n".join(body) + "\n    x\n}\n")
    parts.append(("#[executable]\n" if executable else "") + """fn main() -> Array<felt252> {
    let y = forward();
    let mut out = array![];
    let mut i = 0;
    while i != y.data.len() {
        let v = *y.data.at(i);
        out.append(v.mag.into());
        out.append(if v.sign { 1 } else { 0 });
        i += 1;
    };
    out
}
""")
    return "\n".join(parts)


def write_project(project: Path, manifest_text: str, source: str) -> None:
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "Scarb.toml").write_text(manifest_text)
    (project / "src" / "lib.cairo").write_text(source)


# --- output parsing (pure) ---------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_scarb_version(text: str) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """`scarb --version`: `scarb 2.11.4 (c0ef5ec6a 2025-04-09)` then `cairo: 2.11.4 (...)`."""
    def find(label: str):
        m = re.search(rf"^{label}:?\s+(\d+)\.(\d+)\.(\d+)", text, re.M)
        return tuple(int(g) for g in m.groups()) if m else None
    return find("scarb"), find("cairo")


def parse_execute(log: str) -> list[dict[str, Any]]:
    """One dict per run: program outputs (ints) and Cairo steps, from `scarb execute` or `scarb cairo-run`."""
    runs: list[dict[str, Any]] = []
    mode = None
    for raw in _ANSI.sub("", log).splitlines():
        line = raw.strip()
        if line.startswith(("Executing ", "Running ")):
            runs.append({"outputs": []})
            mode = None
        elif not runs:
            continue
        elif line == "Program output:":
            mode = "output"
        elif line.startswith("Run completed successfully, returning"):
            runs[-1]["outputs"] = [int(v) for v in re.findall(r"-?\d+", line.partition("returning")[2])]
        elif line == "Resources:":
            mode = "resources"
        elif mode == "output" and re.fullmatch(r"-?\d+", line):
            runs[-1]["outputs"].append(int(line))
        elif mode == "resources" and line.startswith("steps:"):
            runs[-1]["steps"] = int(line.split(":", 1)[1].replace(",", "").strip())
        elif mode == "output":
            mode = None
    return runs


def parse_execution_id(log: str) -> int | None:
    """`Saving output to: target/execute/<package>/execution<N>` -> N (the last one in the log)."""
    found = re.findall(r"Saving output to:\s+\S*/execution(\d+)", _ANSI.sub("", log))
    return int(found[-1]) if found else None


def decode_outputs(values: list[int], n_outputs: int) -> list[float]:
    """The program returns (mag, sign) pairs of FP16x16; executables may prefix a panic flag and a length."""
    pairs = values[-2 * n_outputs:]
    if len(pairs) != 2 * n_outputs:
        raise ValueError(f"expected {2 * n_outputs} output values, got {len(values)}")
    return [(-1 if sign else 1) * mag / FP_ONE for mag, sign in zip(pairs[::2], pairs[1::2])]


def proved_output_accuracy(job: ModelJob, values: list[int]) -> dict[str, float]:
    reference = first_input_reference(job.model)
    try:
        got = decode_outputs(values, len(reference))
    except ValueError:
        return {}
    return single_input_accuracy(reference, got)


def _v(version: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in version)


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""
