"""keras2circom: a zoo model exported to tf.keras (h5), transpiled to circom by the framework, then Groth16.

The revision is a commit of the keras2circom repo. A build is three things: the checkout after the
recipe's commands (`npm install`: the circomlib-ml release its package.json asks for, which the
transpiler reads and the circuit includes), a venv with TensorFlow for the transpiler and the export
(the repo pins tensorflow 2.10, which has no wheel for Python 3.11; 2.12-2.15 read and write the same
Keras 2 h5 files), and an npm prefix with circom2 and snarkjs, the toolchain (not keras2circom's own).

Stages: export (the zoo model as h5, by `scripts/keras_export.py` in the build's venv), transpile
(`python main.py model.h5 -o out --raw` from the repo root, timed from outside: TensorFlow's import is
in it), then the circom adapter's compile, witness, accuracy, ptau, setup, prove and verify.

Transpilers up to 2023-11 (package.json: circomlib-ml ^1.4) emit 1.4.4 templates with no rescaling:
weights and biases are scaled by a power of ten it picks so that the last layer's scale stays under 10^64,
and the input is taken as integers. The export therefore gives the Keras model pixels 0-255 (its first
layer's weights divided by 255: the same function), and the circuit's outputs are divided by the scale
of the last bias, read back from circuit.json.

Later ones (`-d decimals`, default 18; circomlib-ml ^2.1, which is not on npm: their build fails at
`npm install` unless the recipe installs circomlib-ml from a local copy of its repo) divide by 10^d in
every layer, so inputs and outputs are at 10^d; each layer's quotient and remainder are circuit inputs,
computed by the circuit.py the transpiler writes beside the circuit (stage `infer`, one call per input).
Either way, a circuit whose public outputs are not the model's ten is refused at compile (the transpiler
declares none for a one-layer model).
"""
from __future__ import annotations

import math
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tracker.adapters.base import StageCall, run_stage, write_json
from tracker.adapters.circom import PIPELINE as CIRCOM_PIPELINE, CircomAdapter, package_versions
from tracker.adapters.circomgen import Circuit
from tracker.adapters.toolchains import NODE, NPM
from tracker.fsutil import read_json
from tracker.measure import ChildFailed, no_verdict, run_measured
from tracker.records import ModelResult, Status
from tracker.types import Build, BuildError, Framework, ModelJob, Variant

SCRIPTS = Path(__file__).parent / "scripts"
PIPELINE = ("export", "transpile", "infer", *CIRCOM_PIPELINE)
# the transpiler's Python needs: TensorFlow with Keras 2 (h5), and the repo's other pins that still install
PYTHON_REQUIREMENTS = ("tensorflow-cpu>=2.12,<2.16", "numpy<2", "docopt==0.6.2")
TOOLS = ("circom2@0.2.23", "snarkjs@0.7.5")
PIXELS = 255  # the exported model takes pixels 0-255: keras2circom 1.x feeds the circuit integers


class Keras2CircomAdapter(CircomAdapter):
    name = "keras2circom"
    toolchains = (NODE, NPM)
    variant_settings = {"decimals": (int,)}  # `-d`, for transpilers that have it (2023-11 on)
    stages = PIPELINE

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("default"),)

    # --- build -----------------------------------------------------------------------------------------

    def build(self, framework: Framework, revision, source: Path | None, build_dir: Path,
              log_path: Path) -> Build | None:
        """The checkout after the recipe's commands, a TensorFlow venv, and an npm prefix with the toolchain."""
        if source is None:
            raise BuildError("keras2circom builds from a checkout of its repo (history kind: commits)")
        env = {**_os_environ(), **dict(framework.build.env)}
        for command in framework.build.commands:
            try:
                run_measured(["bash", "-c", command], log_path=log_path, cwd=source, env=env,
                             limits=framework.build.limits)
            except ChildFailed as exc:  # npm's last line only points at its own log: say what went wrong
                if no_verdict(exc):  # a limit or a kill from outside: the build is tried again
                    raise
                raise BuildError(f"{command!r} in the checkout: {npm_error(exc.log_tail) or exc.reason}") from None
        venv = build_dir / "venv"
        run_measured([sys.executable, "-m", "venv", venv], log_path=log_path, limits=framework.build.limits)
        python = venv / "bin" / "python"
        run_measured([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *PYTHON_REQUIREMENTS],
                     log_path=log_path, env=env, limits=framework.build.limits)
        prefix = build_dir / "node"
        prefix.mkdir(exist_ok=True)
        run_measured(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", *TOOLS],
                     log_path=log_path, env=env, limits=framework.build.limits)
        return Build(framework=framework.name, revision=revision.sha, path=build_dir, python=python,
                     node_prefix=prefix, source=source, version=revision.version, env=framework.build.env)

    # --- the circuit comes from the transpiler ----------------------------------------------------------

    def circuit(self, job: ModelJob, result: ModelResult) -> Circuit | None:
        source = job.build.source
        if source is None or job.build.python is None:
            result.fail(Status.ERROR, f"build {job.build.revision} has no checkout or no Python")
            return None
        result.provenance["keras2circom_commit"] = job.build.revision
        result.provenance.update(package_versions(source))  # the circomlib-ml its package.json got
        decimals = job.variant.as_dict().get("decimals")
        rescales = "--decimals" in (source / "main.py").read_text()  # 2.x: layers rescale, inputs at 10^d
        if decimals is not None and not rescales:
            result.fail(Status.UNSUPPORTED, "this keras2circom revision has no -d/--decimals option")
            return None
        h5 = self.export(job, result, 1 if rescales else PIXELS)
        if h5 is None or not self.transpile(job, result, h5, decimals):
            return None
        if rescales:
            return self.read_circuit_2x(job, result)
        return self.read_circuit(job, result)

    def export(self, job: ModelJob, result: ModelResult, multiplier: int) -> Path | None:
        """The zoo model as an h5 file taking `multiplier` x its inputs, checked against the float model."""
        from tracker.models.zoo import eval_set, float_outputs, load_weights

        wd = job.workdir
        inputs, _ = eval_set(job.model, 4)
        spec = {"input_shape": list(job.model.input_shape), "layers": [{"kind": x.kind} for x in job.model.layers],
                "input_multiplier": float(multiplier), "check_inputs": inputs.tolist()}
        np.savez(wd / "weights.npz", **load_weights(job.model))
        h5, out = wd / "model.h5", wd / "stages" / "export.result.json"
        argv = [job.build.python, SCRIPTS / "keras_export.py", write_json(wd / "stages" / "export.spec.json", spec),
                wd / "weights.npz", h5, out]
        data = run_stage(job, result, StageCall("export", argv, out, env={"TF_CPP_MIN_LOG_LEVEL": "2"}))
        if data is None:
            return None
        result.provenance["tensorflow_version"] = str(data.get("tensorflow", "unknown"))
        gap = float(np.abs(np.asarray(data["outputs"]) - float_outputs(job.model, inputs)).max())
        if gap > 1e-4:
            result.fail(Status.ERROR, f"export: the Keras model differs from the zoo model by {gap:.3g}")
            return None
        return h5

    def transpile(self, job: ModelJob, result: ModelResult, h5: Path, decimals: int | None) -> bool:
        """`python main.py model.h5 -o out --raw [-d N]` from the repo root, where it finds node_modules."""
        out = job.workdir / "k2c" / "out"
        shutil.rmtree(out.parent, ignore_errors=True)
        command = [str(job.build.python), "main.py", str(h5), "-o", str(out), "--raw"]
        if decimals is not None:
            command += ["-d", str(int(decimals))]
        result_file = job.workdir / "stages" / "transpile.result.json"
        argv = [sys.executable, SCRIPTS / "timed_command.py", result_file, "1", shlex.join(command)]
        call = StageCall("transpile", argv, result_file, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=job.build.source)
        if run_stage(job, result, call) is None:
            explain(result, "transpile", job.workdir / "logs" / "transpile.log")
            return False
        result.provenance["transpile_timing"] = "wall time of main.py, TensorFlow's import included"
        return True

    def read_circuit(self, job: ModelJob, result: ModelResult) -> Circuit | None:
        out = job.workdir / "k2c" / "out"
        weights = read_json(out / "circuit.json")
        if not isinstance(weights, dict) or not weights:
            result.fail(Status.ERROR, "transpile: no weights in circuit.json")
            return None
        copy_templates(job, out)
        scale = bias_scale(job.model, weights)
        result.settings["output_scale"] = f"10^{round(math.log10(scale))}"
        result.settings["input"] = f"pixels 0-{PIXELS} (integers)"
        shape = tuple(job.model.input_shape)
        if len(shape) == 3:
            shape = (shape[1], shape[2], shape[0])
        return Circuit(source=(out / "circuit.circom").read_text(), weights=weights, input_shape=shape,
                       decimals=0, output_scale=scale, input_scale=PIXELS)

    def read_circuit_2x(self, job: ModelJob, result: ModelResult) -> Circuit | None:
        """A 2.x circuit: inputs at 10^d, every layer divided by 10^d, the quotients from its circuit.py."""
        from tracker.models.zoo import eval_set

        out = job.workdir / "k2c" / "out"
        weights = read_json(out / "circuit.json")
        found = re.search(r"10\*\*(\d+)", (out / "circuit.circom").read_text())
        if not isinstance(weights, dict) or not weights or found is None:
            result.fail(Status.ERROR, "transpile: no weights in circuit.json or no 10**d in circuit.circom")
            return None
        copy_templates(job, out)
        d = int(found.group(1))
        result.settings["decimals"] = d
        shape = tuple(job.model.input_shape)
        shape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
        circuit = Circuit(source=(out / "circuit.circom").read_text(), weights=weights, input_shape=shape,
                          decimals=d, output_scale=10 ** d)
        inputs, _ = eval_set(job.model, job.eval_count)
        ins = write_json(job.workdir / "stages" / "infer.inputs.json", [circuit.input_signal(x) for x in inputs])
        extras, result_file = job.workdir / "infer.json", job.workdir / "stages" / "infer.result.json"
        argv = [job.build.python, SCRIPTS / "keras2circom_infer.py", out / "circuit.py", out / "circuit.json", ins,
                extras, result_file]
        if run_stage(job, result, StageCall("infer", argv, result_file,
                                            env={"PYTHONPATH": str(job.build.source)})) is None:
            return None
        circuit.extras = read_json(extras)
        result.settings["output_scale"] = f"10^{d}"
        return circuit

    def sources(self, job: ModelJob) -> dict[str, Any]:
        root = job.workdir / "k2c"
        return {"name": "circuit", "circuit": str(root / "out" / "circuit.circom"), "cwd": str(root), "includes": []}


def copy_templates(job: ModelJob, out: Path) -> None:
    """circom2 sees only its working dir: the templates go where the circuit's "../node_modules/..." points."""
    templates = job.build.source / "node_modules" / "circomlib-ml" / "circuits"
    shutil.copytree(templates, out.parent / "node_modules" / "circomlib-ml" / "circuits")


def bias_scale(model, weights: dict[str, Any]) -> int:
    """The scale of the circuit's outputs: that of the last layer's bias, as a power of ten.

    keras2circom 1.x scales each bias to the scale of its layer's output; comparing the last bias in
    circuit.json with the float one gives that scale, which must be a power of ten.
    """
    from tracker.models.zoo import layer_params

    bias = next(b for _, _, b in reversed(layer_params(model)) if b is not None).astype(np.float64)
    ints = np.asarray([float(v) for v in weights[[k for k in weights if k.endswith("_bias")][-1]]])
    big = np.abs(bias) > 1e-3 * np.abs(bias).max()
    ratio = float(np.median(ints[big] / bias[big]))
    power = round(math.log10(abs(ratio)))
    if ratio <= 0 or abs(ratio / 10 ** power - 1) > 1e-3:
        raise ValueError(f"circuit.json's last bias is not the float bias times a power of ten (ratio {ratio:.4g})")
    return 10 ** power


def explain(result: ModelResult, stage: str, log: Path) -> None:
    """Put the transpiler's own exception (the last `SomethingError: ...` line of its log) into the reason."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return
    found = next((ln.strip() for ln in reversed(lines) if re.match(r"^\w+(Error|Exception): ", ln.strip())), "")
    if found:
        reason = f"main.py failed: {found[:300]}"
        result.stages[stage].reason = reason
        result.reason = f"{stage}: {reason}"


def npm_error(log_tail: str) -> str:
    """npm's first error line that says something (the package and URL of a 404, a missing version)."""
    for line in log_tail.splitlines():
        text = line.removeprefix("npm error").strip()
        if line.startswith("npm error") and len(text.split()) > 3 and "complete log" not in text:
            return text[:300]
    return ""


def _os_environ() -> dict[str, str]:
    import os

    return dict(os.environ)
