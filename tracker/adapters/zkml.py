"""ddkang/zkml (Halo2, KZG): a zoo model as TFLite, converted to zkml's msgpack, proved by `time_circuit`.

What zkml's README documents, and what this adapter runs:
- build: the `cargo` build kind (tracker.build.cargo) with `rust_toolchain: nightly`, i.e. `cargo +nightly
  build --release --bin time_circuit` (the README's `rustup override set nightly`, said per command), then
  a venv for the converters (`finish_build`). It needs Rust nightly and the crates registry plus GitHub
  (halo2 is a git dependency); where either is out of reach the build fails and the recorded reason says which.
- model: zkml reads TFLite only. The zoo model is rebuilt as tf.keras with its trained weights and
  converted with TensorFlow's TFLite converter, then `python/converter.py` (the repo's own, which needs
  tensorflow, tflite and msgpack) writes the model msgpack and `python/input_converter.py` the input
  msgpack. The build makes a venv with those packages; without them the `export` stage fails and says so.
- prove: `time_circuit MODEL.msgpack INPUT.msgpack kzg` (the build's copy, `bin/`), run in the work dir, where it
  writes `vkey`, `pkey`, `proof`, `public_vals` and its KZG parameters (`params_kzg/<k>.params`, made
  locally with a random toxic waste the first time: insecure, fine for benchmarks; shared through the
  cache). It prints its own phase timings (src/utils/proving_kzg.rs, `time_circuit_kzg`): those become
  the `setup` (vkey + pkey), `witness` (filling the circuit), `prove` and `verify` samples. Peak memory is
  the whole `time_circuit` process's (all phases), and the record says so.
"""
from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tracker.adapters.base import Adapter, StageCall, run_stage, timed_stage, write_json
from tracker.adapters.toolchains import CARGO, RUSTUP
from tracker.measure import ChildFailed, no_verdict, run_measured
from tracker.models.accuracy import first_input_reference, single_input_accuracy
from tracker.records import ModelResult, StageResult, Status
from tracker.types import Build, BuildError, Framework, ModelJob, Variant

# the README's MNIST example: python converter.py ... --scale_factor 512 --k 17 --num_cols 10 --num_randoms 1024
DEFAULTS = {"scale_factor": 512, "k": 17, "num_cols": 10, "num_randoms": 1024}
# the converter's Python side: TensorFlow 2.15 is the newest with Keras 2 (tf.lite) that installs on 3.11 here
CONVERTER_REQUIREMENTS = ("tensorflow-cpu==2.15.1", "tflite==2.10.0", "msgpack", "numpy<2")
BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
PIPELINE = ("export", "convert", "time_circuit")


class ZkmlAdapter(Adapter):
    name = "zkml"
    stages = PIPELINE
    toolchains = (CARGO, RUSTUP)
    fetches_from = {"github.com": "git dependencies: a halo2 fork, halo2curves 0.3.2"}
    variant_settings = {"scale_factor": (int,), "k": (int,), "num_cols": (int,), "num_randoms": (int,)}

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("default", tuple(DEFAULTS.items())),)

    # --- build -----------------------------------------------------------------------------------------

    def finish_build(self, framework: Framework, build: Build, log_path: Path) -> Build:
        """The converters' venv beside the binaries cargo built."""
        for argv in venv_commands(build.path):
            try:
                run_measured(argv, log_path=log_path, cwd=build.path, limits=framework.build.limits)
            except ChildFailed as exc:
                if no_verdict(exc):  # a limit or a kill from outside: the build is tried again
                    raise
                raise BuildError(venv_failure_reason(exc.log_tail, exc.reason)) from None
        return replace(build, python=converter_python(build.path))

    # --- prove -----------------------------------------------------------------------------------------

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        src, python = job.build.source, job.build.python
        if src is None or python is None:
            result.fail(Status.ERROR, f"build {job.build.revision} has no source checkout or converter Python")
            return
        settings = {**DEFAULTS, **job.variant.as_dict()}
        result.settings.update(settings)
        files = prepare_inputs(job)
        export = write_json(job.workdir / "export.args.json", {**files, "result": str(job.workdir / "export.json")})
        (job.workdir / "export_tflite.py").write_text(TFLITE_EXPORT)
        if run_stage(job, result, StageCall("export", [python, job.workdir / "export_tflite.py", export],
                                            job.workdir / "export.json")) is None:
            return
        if timed_stage(job, result, "convert", convert_command(python, src, job.workdir, settings), 1) is None:
            return
        params = job.cache_dir / "zkml" / "params_kzg"
        params.mkdir(parents=True, exist_ok=True)
        link = job.workdir / "params_kzg"
        if not link.exists():
            link.symlink_to(params, target_is_directory=True)
        command = time_circuit_command(job.build.path, job.workdir / "model.msgpack", job.workdir / "input.msgpack")
        if timed_stage(job, result, "time_circuit", command, job.repeats) is None:
            return
        runs = parse_time_circuit((job.workdir / "logs" / "time_circuit.log").read_text(errors="replace"))
        record_runs(result, runs, settings)
        outputs = runs[-1].get("outputs") if runs else None
        if outputs:
            result.accuracy = proved_output_accuracy(job, outputs, settings["scale_factor"])
        result.provenance.update({
            "timing": "phase times printed by time_circuit (std::time::Instant), one run per repeat",
            "memory": "peak RSS of the whole time_circuit process: params, keygen, witness, prove and verify",
            "params": "params_kzg made by time_circuit with a random local setup: insecure, fine for benchmarks",
            "model": "zoo model -> tf.keras -> TFLite (TensorFlow) -> python/converter.py msgpack",
        })


# --- commands (pure) ---------------------------------------------------------------------------------

def converter_python(build_dir: Path) -> Path:
    return build_dir / "venv" / "bin" / "python"


def venv_commands(build_dir: Path) -> list[list[str]]:
    """A venv for the README's Python converters, made after cargo built `time_circuit`."""
    python = str(converter_python(build_dir))
    return [
        [sys.executable, "-m", "venv", str(build_dir / "venv")],
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *CONVERTER_REQUIREMENTS],
    ]


def convert_command(python: Path, source: Path, workdir: Path, settings: dict[str, Any]) -> str:
    """README steps 3 and 5: model.tflite -> model.msgpack + config.msgpack, input.npy -> input.msgpack."""
    w = workdir
    model = (f"{python} {source}/python/converter.py --model {w}/model.tflite --model_output {w}/model.msgpack "
             f"--config_output {w}/config.msgpack --scale_factor {int(settings['scale_factor'])} "
             f"--k {int(settings['k'])} --num_cols {int(settings['num_cols'])} "
             f"--num_randoms {int(settings['num_randoms'])}")
    inputs = (f"{python} {source}/python/input_converter.py --model_config {w}/model.msgpack "
              f"--inputs {w}/input.npy --output {w}/input.msgpack")
    return f"{model} && {inputs}"


def time_circuit_command(build_dir: Path, model: Path, inputs: Path) -> str:
    return f"{build_dir}/bin/time_circuit {model} {inputs} kzg"


def venv_failure_reason(log_tail: str, fallback: str) -> str:
    """One line for a converter venv that did not install, naming PyPI where pip's log shows it."""
    if "No matching distribution found" in log_tail:
        return "the converter's Python packages (tensorflow-cpu, tflite, msgpack) did not install from PyPI"
    last = [line for line in log_tail.splitlines() if line.strip()]
    return f"{fallback}: {last[-1].strip()[:200]}" if last else fallback


# --- output parsing (pure) ---------------------------------------------------------------------------

_UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"^([0-9.]+)(s|ms|µs|us|ns)$")
_TIMES = {
    "Time elapsed in params construction": "params_s",
    "Time elapsed in generating vkey": "vkey_s",
    "Time elapsed in generating pkey": "pkey_s",
    "Time elapsed in filling circuit": "witness_s",
    "Proving time": "prove_s",
    "Verifying time": "verify_s",
}
_SIZES = {"vkey size": "vk_bytes", "pkey size": "pk_bytes", "Public vals size": "public_vals_bytes",
          "Proof size": "proof_bytes"}


def parse_duration(text: str) -> float:
    """Rust's `{:?}` of a `Duration`: `8.123456789s`, `16.36ms`, `412.5µs`, `950ns`."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a Rust duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_time_circuit(log: str) -> list[dict[str, Any]]:
    """One dict per `time_circuit` run in the log: phase times (s), sizes (bytes), public values."""
    runs: list[dict[str, Any]] = []
    for line in log.splitlines():
        line = line.strip()
        key, _, value = line.partition(": ")
        if key == "Time elapsed in params construction":
            runs.append({})
        if not runs:
            continue
        if key in _TIMES:
            runs[-1][_TIMES[key]] = parse_duration(value)
        elif key in _SIZES and value.endswith(" bytes"):
            runs[-1][_SIZES[key]] = int(value[:-len(" bytes")])
        elif key == "public vals":
            runs[-1]["public_vals"] = [int(h, 16) for h in re.findall(r"0x[0-9a-fA-F]+", value)]
    return [r for r in runs if "verify_s" in r]  # a run that did not verify is not a result


def field_to_signed(value: int, modulus: int = BN254_R) -> int:
    return value - modulus if value > modulus // 2 else value


def record_runs(result: ModelResult, runs: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    """The printed phases become stages; the whole process's peak memory is given to each."""
    if not runs:
        result.fail(Status.ERROR, "time_circuit printed no complete run (no 'Verifying time' line)")
        return
    whole = result.stages.get("time_circuit")
    peak = whole.peak_rss_bytes if whole else 0
    phases = {"setup": lambda r: r["vkey_s"] + r["pkey_s"], "witness": lambda r: r["witness_s"],
              "prove": lambda r: r["prove_s"], "verify": lambda r: r["verify_s"]}
    for stage, get in phases.items():
        result.add(StageResult(stage, samples_s=[get(r) for r in runs], peak_rss_bytes=peak))
    last = runs[-1]
    result.sizes.update({k: last[k] for k in ("proof_bytes", "vk_bytes", "pk_bytes", "public_vals_bytes")
                         if k in last})
    result.circuit["logrows"] = int(settings["k"])
    if "public_vals" in last:
        result.circuit["public_values"] = len(last["public_vals"])
        last["outputs"] = [field_to_signed(v) for v in last["public_vals"]]


def proved_output_accuracy(job: ModelJob, outputs: list[int], scale_factor: int) -> dict[str, float]:
    """The proved input's outputs (the last public values, at the scale factor) against the float model's."""
    reference = first_input_reference(job.model)
    if len(outputs) < len(reference):
        return {}
    return single_input_accuracy(reference, np.asarray(outputs[-len(reference):], dtype=np.float64) / scale_factor)


# --- the model's files --------------------------------------------------------------------------------

def prepare_inputs(job: ModelJob) -> dict[str, str]:
    """Layers and weights for the TFLite export (NHWC, as TFLite wants), and the first input as .npy."""
    from tracker.models.zoo import eval_set, layer_params

    wd = job.workdir
    wd.mkdir(parents=True, exist_ok=True)
    layers, arrays = [], {}
    for i, (layer, w, b) in enumerate(layer_params(job.model)):
        layers.append({"kind": layer.kind, "n_out": layer.n_out, "kernel": layer.kernel})
        if w is not None:
            arrays[f"w{i}"] = np.transpose(w, (2, 3, 1, 0)) if layer.kind == "conv2d" else w
            arrays[f"b{i}"] = b
    _permute_after_flatten(job.model, layers, arrays)
    np.savez(wd / "weights.npz", **arrays)
    x, _ = eval_set(job.model, 1)
    sample = x[0]
    if sample.ndim == 3:
        sample = np.transpose(sample, (1, 2, 0))  # CHW -> HWC
    np.save(wd / "input.npy", sample.astype(np.float32))
    shape = list(sample.shape)
    return {"layers": layers, "input_shape": shape, "weights": str(wd / "weights.npz"),
            "tflite": str(wd / "model.tflite")}


def _permute_after_flatten(model, layers: list[dict], arrays: dict[str, np.ndarray]) -> None:
    """The zoo flattens channels first (ONNX); Keras flattens HWC: reorder the next dense layer's rows."""
    shape = model.input_shape
    if len(shape) != 3:
        return
    c, h, w = shape
    for i, layer in enumerate(model.layers):
        if layer.kind == "conv2d":
            c, h, w = layer.n_out, h - layer.kernel + 1, w - layer.kernel + 1
        elif layer.kind == "maxpool2d":
            h, w = h // 2, w // 2
        elif layer.kind == "dense" and f"w{i}" in arrays:
            order = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
            arrays[f"w{i}"] = arrays[f"w{i}"][order]
            return


# run under the converter's Python (TensorFlow): rebuild the zoo model in tf.keras, write TFLite, time it
TFLITE_EXPORT = '''\
import json, sys, time
import numpy as np
import tensorflow as tf

args = json.load(open(sys.argv[1]))
start = time.perf_counter()
weights = np.load(args["weights"])
model = tf.keras.Sequential([tf.keras.Input(shape=args["input_shape"])])
for i, layer in enumerate(args["layers"]):
    kind = layer["kind"]
    if kind == "dense":
        model.add(tf.keras.layers.Dense(layer["n_out"]))
    elif kind == "conv2d":
        model.add(tf.keras.layers.Conv2D(layer["n_out"], layer["kernel"]))
    elif kind == "maxpool2d":
        model.add(tf.keras.layers.MaxPooling2D(2))
    elif kind == "relu":
        model.add(tf.keras.layers.ReLU())
    elif kind == "flatten":
        model.add(tf.keras.layers.Flatten())
    if "w%d" % i in weights:
        model.layers[-1].set_weights([weights["w%d" % i], weights["b%d" % i]])
converter = tf.lite.TFLiteConverter.from_keras_model(model)
open(args["tflite"], "wb").write(converter.convert())
json.dump({"samples": [time.perf_counter() - start], "data": {"tensorflow": tf.__version__}},
          open(args["result"], "w"))
'''

