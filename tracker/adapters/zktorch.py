"""zkTorch (arkworks bn254, Mira folding): a zoo model as ONNX plus the `config.yaml` zkTorch reads.

The `cargo` build kind (tracker.build.cargo) gives each commit its own `zk_torch` binary, built as the
README says (`--features fold`). One run of that binary does everything for one input: load the ptau,
read the ONNX model, witness, setup, prove (with folding), verify, and write its files. The run is timed
from outside and its peak memory is the whole process's (every phase); the phase times are zkTorch's own
(plonky2's TimingTree, printed at `RUST_LOG=debug`): `setup` is its "setup and encode models", `prove`
its "encode inputs" + "encode outputs" + "prove" (all of `prove()`), `verify` its "verify", `witness`
its "run witness generation". The record's provenance says so.

zkTorch keeps per-layer lookup setups under `layer_setup/` in the work dir and would reuse them in the
next run: each repeat starts without them, so each setup is a full one. Proof size is the folded final
proof (`final_proofs`; before 7bdd0bb, `proofs`, which verify overwrote with it); the proofs before folding and the folding proofs are kept beside it, and the
encodings (commitments to model, input and output) the verifier also reads.

Accuracy is not measured: zk_torch prints no model outputs (only their commitments reach its files).
A model whose layer zkTorch cannot load ends `unsupported` with zkTorch's own panic message; a value
outside its lookup range ("CQ Error", on which zk_torch stops with status 0) ends `error` with that line.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tracker.adapters.base import Adapter, file_size, timed_stage, write_json
from tracker.adapters.ptau_challenge import TAU, write_challenge
from tracker.adapters.toolchains import CARGO
from tracker.fsutil import publish_once
from tracker.records import ModelResult, StageResult, Status
from tracker.types import ModelJob, Variant

# zkTorch's README: scale_factor_log, cq_range_log (< pow_len_log), cq_range_lower_log (< cq_range_log). Its lookup
# tables must hold a layer's output at twice the scale: 784_56_10 reaches -17.3 (-4435 at scale 2^8), and each
# run's setup builds the tables (58 of 66 s for 784_56_10 at these settings, 258 s for `linear` at 4/13/12/14)
DEFAULTS = {"scale_factor_log": 2, "cq_range_log": 10, "cq_range_lower_log": 9, "pow_len_log": 11}
OUTPUTS = {"model_path": "models", "setup_path": "setups", "enc_model_path": "modelsEnc",
           "enc_input_path": "inputsEnc", "enc_output_path": "outputsEnc", "proof_path": "proofs",
           "acc_proof_path": "acc_proofs", "final_proof_path": "final_proofs"}
SIZES = {"proof_unfolded_bytes": "proofs", "acc_proof_bytes": "acc_proofs", "enc_model_bytes": "modelsEnc",
         "enc_input_bytes": "inputsEnc", "enc_output_bytes": "outputsEnc", "setup_bytes": "setups",
         "model_data_bytes": "models"}
PHASES = {"witness": ("run witness generation",), "setup": ("setup and encode models",),
          "prove": ("encode inputs", "encode outputs", "prove"), "verify": ("verify",)}
TIMING_RE = re.compile(r"\] ((?:\| )*)([0-9.]+)s to (.+)$")
PANIC_RE = re.compile(r"thread '[^']*'(?: \(\d+\))? panicked at ([^\n]*?):?\n(.+)")
UNWRAP_RE = re.compile(r"^called `(?:Result|Option)::unwrap\(\)` on an `Err` value: \"?(.*?)\"?$")
UNSUPPORTED_RE = re.compile(r"unsupported|not supported|not implemented|only supports?|not found", re.I)


class ZktorchAdapter(Adapter):
    name = "zktorch"
    toolchains = (CARGO,)
    variant_settings = {key: (int,) for key in DEFAULTS}
    stages = ("zk_torch", *PHASES)

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("default", tuple(DEFAULTS.items())),)

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        settings = {**DEFAULTS, **job.variant.as_dict()}
        result.settings.update(settings)
        config = write_inputs(job, settings, challenge(job.cache_dir, settings["pow_len_log"]))
        log = job.workdir / "logs" / "zk_torch.log"
        offset = log.stat().st_size if log.exists() else 0
        binary = job.build.path / "bin" / (job.framework.build.binaries or ("zk_torch",))[0]
        command = f"rm -rf layer_setup {' '.join(OUTPUTS.values())} && RUST_LOG=debug {binary} {config.name}"
        ran = timed_stage(job, result, "zk_torch", command, job.repeats, cwd=job.workdir)
        text = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
        failure = zktorch_failure(text)
        if failure:
            result.status = Status.OK  # zkTorch's own message says more than "exited with status 101"
            result.fail(*failure)
            result.stages["zk_torch"].status, result.stages["zk_torch"].reason = failure
            return
        if ran is None:
            return
        record_runs(result, parse_timings(text))
        record_sizes(result, job.workdir)
        result.provenance.update({
            "timing": "zkTorch's own phase timers (plonky2 TimingTree at RUST_LOG=debug), one run per repeat; "
                      "prove = encode inputs + encode outputs + prove",
            "memory": "peak RSS of the whole zk_torch process: ptau load, witness, setup, prove and verify",
            "ptau": f"challenge file made by the tracker with a known tau ({TAU}): insecure, for benchmarks",
            "accuracy": "not measured: zk_torch prints no model outputs, only commitments to them",
        })


def challenge(cache_dir: Path, power: int) -> Path:
    """The ptau challenge file of 2^power powers, made once per cache and shared."""
    path = cache_dir / "zktorch" / f"challenge-{int(power):02d}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_challenge(path, int(power), publish_once)
    return path


def write_inputs(job: ModelJob, settings: dict, ptau: Path) -> Path:
    """model.onnx, input.json (the first evaluation input) and config.yaml in the work dir."""
    from tracker.models.zoo import eval_set, export_onnx

    wd = job.workdir
    wd.mkdir(parents=True, exist_ok=True)
    export_onnx(job.model, wd / "model.onnx")
    inputs, _ = eval_set(job.model, 1)
    write_json(wd / "input.json", {"input_data": [inputs[0].reshape(-1).tolist()]})
    config = {
        "task": job.model.name,
        "onnx": {"model_path": "model.onnx", "input_path": "input.json"},
        "ptau": {"ptau_path": str(ptau), "pow_len_log": settings["pow_len_log"],
                 "loaded_pow_len_log": settings["pow_len_log"]},
        "sf": {k: settings[k] for k in ("scale_factor_log", "cq_range_log", "cq_range_lower_log")},
        "prover": {**OUTPUTS, "enable_layer_setup": True},
        "verifier": {k: OUTPUTS[k] for k in ("enc_model_path", "enc_input_path", "enc_output_path", "proof_path")},
    }
    path = wd / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def parse_timings(log: str) -> list[dict[str, float]]:
    """One dict per run: the seconds of each top-level phase of zkTorch's timing tree (and `root`)."""
    runs: list[dict[str, float]] = []
    for line in log.splitlines():
        m = TIMING_RE.search(line)
        if not m:
            continue
        depth, seconds, name = len(m.group(1)) // 2, float(m.group(2)), m.group(3).strip()
        if depth == 0:
            runs.append({"root": seconds})
        elif depth == 1 and runs:
            runs[-1][name] = runs[-1].get(name, 0.0) + seconds
    return runs


def record_runs(result: ModelResult, runs: list[dict[str, float]]) -> None:
    """zkTorch's phases become stages; each carries the whole process's peak memory."""
    complete = [r for r in runs if all(n in r for names in PHASES.values() for n in names)]
    if not complete:
        result.fail(Status.ERROR, "zk_torch printed no complete timing tree (is RUST_LOG=debug reaching it?)")
        return
    peak = result.stages["zk_torch"].peak_rss_bytes
    for stage, names in PHASES.items():
        result.add(StageResult(stage, samples_s=[sum(r[n] for n in names) for r in complete],
                               peak_rss_bytes=peak))


def record_sizes(result: ModelResult, workdir: Path) -> None:
    """The folded final proof is `final_proofs` from 7bdd0bb (2025-05-05); before, verify wrote it over
    `proofs` (the proofs before folding), so there `proofs` is the final proof and no unfolded size is kept."""
    sizes = {k: file_size(workdir / name) for k, name in SIZES.items() if file_size(workdir / name)}
    final = "final_proofs" if file_size(workdir / "final_proofs") else "proofs"
    if final == "proofs":
        sizes.pop("proof_unfolded_bytes", None)
    sizes["proof_bytes"] = file_size(workdir / final)
    result.sizes.update(sizes)
    result.provenance["proof"] = f"proof_bytes is the folded final proof ({final})"


def zktorch_failure(log: str) -> tuple[str, str] | None:
    """(status, zkTorch's own message) for a run that failed in a way zkTorch explains, else None."""
    cq = re.search(r"^CQ Error: (.*)$", log, re.M)
    if cq:
        return Status.ERROR, f"zkTorch: CQ Error: {cq.group(1).strip()[:300]} (a value outside the lookup range)"
    panic = PANIC_RE.search(log)
    if not panic:
        return None
    message = panic.group(2).strip()
    unwrapped = UNWRAP_RE.match(message)
    message = (unwrapped.group(1) if unwrapped else message)[:300]
    status = Status.UNSUPPORTED if UNSUPPORTED_RE.search(message) else Status.ERROR
    return status, f"zkTorch panicked at {panic.group(1)}: {message}"
