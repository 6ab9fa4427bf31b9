"""circom + snarkjs (Groth16): a zoo model written as a circomlib-ml circuit, compiled, set up and proved.

The build is an npm prefix per circomlib-ml release (frameworks.yaml: circomlib-ml, circom2 = circom
2.2.x as WASM, snarkjs). `tracker.adapters.circomgen` writes the circuit from the model's layers and
weights in fixed point (`decimals` digits, the scale carried through the layers, no truncation). Each
stage is a child process, `scripts/circom_stage.js` under node, which calls the packages' JavaScript
APIs and times only the work, so node's start-up and module loading are not in the samples.

Order: compile, witness, accuracy, ptau, setup, prove, verify. Accuracy needs only witnesses (the
circuit's integer forward pass), so it comes before the trusted setup: a circuit too big to set up here
still gets its constraint count and its accuracy recorded.

Powers of tau: one file per power, made locally by snarkjs (new, one contribution with fixed entropy,
prepare phase 2), insecure and fine for benchmarks. `prepare phase2` costs about 4x per extra power
(104 s at 13, 18 min at 16 on 2 cores), so a file is made once per cache directory, under a lock,
into a temporary file renamed into place, and shared by every model and release. A file put at that
path by hand (a public ceremony's, say) is used as it is, and the record says which kind was used.
"""
from __future__ import annotations

import dataclasses
import fcntl
import math
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tracker.adapters.base import Adapter, StageCall, file_size, run_stage, write_json
from tracker.adapters.circomgen import Circuit, generate
from tracker.fsutil import atomic_write_json, read_json
from tracker.measure import Limits
from tracker.records import ModelResult, StageResult, Status
from tracker.types import ModelJob, Toolchain, Unsupported, Variant

SCRIPT = Path(__file__).parent / "scripts" / "circom_stage.js"
PIPELINE = ("compile", "witness", "accuracy", "ptau", "setup", "prove", "verify")
DEFAULT_DECIMALS = 3
CIRCUIT = "model"
# fixed, public entropy: the keys are reproducible and insecure (anyone can forge proofs), fine for benchmarks
ENTROPY = "zkml-tracker fixed entropy: insecure, for benchmarks only"
# past this power a local ptau takes hours (about 4x per power: 18 min at 16, ~75 min at 17 here)
MAX_LOCAL_POWER = 17
PTAU_LIMITS = Limits(timeout_s=6 * 3600)
SETUP_REPEATS = 1
PACKAGES = ("circomlib-ml", "circom2", "snarkjs")
NODE = Toolchain("node", "node", "install Node.js 18 or newer (npm comes with it)")


class CircomAdapter(Adapter):
    name = "circom"
    toolchains = (NODE,)
    variant_settings = {"decimals": (int,)}  # fixed point: inputs and weights at 10^decimals
    stages = PIPELINE
    size_files = {"proof_bytes": "proof", "vk_bytes": "vk", "pk_bytes": "zkey"}

    @classmethod
    def default_variants(cls) -> tuple[Variant, ...]:
        return (Variant("default", (("decimals", DEFAULT_DECIMALS),)),)

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        circuit = self.circuit(job, result)
        if circuit is not None:
            files.update(self.prepare(job, circuit))
            self.run_stages(job, result, circuit, files)

    def proof_raw_bytes(self, proof: dict[str, Any]) -> int | None:
        """A Groth16 proof's raw size from its affine coordinates (32 B each)."""
        if not all(k in proof for k in ("pi_a", "pi_b", "pi_c")):
            return None
        coords = 2 + 2 * 2 + 2  # G1 (x, y), G2 (x, y) over Fq2, G1 (x, y)
        return coords * 32

    def vk_raw_bytes(self, vk: dict[str, Any]) -> int | None:
        """A Groth16 verifying key's raw size: alpha in G1, beta, gamma and delta in G2, one G1 point per
        public input and one more (IC); affine coordinates of 32 B. snarkjs's precomputed pairing
        (vk_alphabeta_12) is a cache, not part of the key."""
        if not all(k in vk for k in ("vk_alpha_1", "vk_beta_2", "vk_gamma_2", "vk_delta_2", "IC")):
            return None
        return (2 + 3 * 4 + 2 * len(vk["IC"])) * 32

    # --- what a subclass (keras2circom) replaces: where the circuit comes from ----------------------

    def circuit(self, job: ModelJob, result: ModelResult) -> Circuit | None:
        """The circuit for `job.model`, or None (with the reason in `result`) if it cannot be written."""
        decimals = int(job.variant.as_dict().get("decimals", DEFAULT_DECIMALS))
        result.settings["decimals"] = decimals
        try:
            circuit = generate(job.model, decimals)
        except Unsupported as exc:
            result.fail(Status.UNSUPPORTED, f"circomlib-ml 1.4 templates: {exc}")
            return None
        (job.workdir / f"{CIRCUIT}.circom").write_text(circuit.source)
        result.settings["output_scale"] = f"10^{round(math.log10(circuit.output_scale))}"
        result.provenance["circuit"] = "generated by zkml-tracker from circomlib-ml templates " + \
            ", ".join(dict.fromkeys(circuit.templates))
        return circuit

    # --- the pipeline --------------------------------------------------------------------------------

    def prepare(self, job: ModelJob, circuit: Circuit) -> dict[str, Any]:
        """The files every stage reads: the inputs of one proof, the evaluation inputs, where outputs go."""
        from tracker.models.zoo import eval_set

        prefix = job.build.node_prefix
        if prefix is None:
            raise ValueError(f"build {job.build.revision} has no npm prefix")
        wd = job.workdir
        inputs, _ = eval_set(job.model, job.eval_count)
        samples = [{"in": circuit.input_signal(x), **(circuit.extras[i] if circuit.extras else {})}
                   for i, x in enumerate(inputs)]
        first = {**circuit.weights, **samples[0]}
        src = self.sources(job)
        out, name = Path(src["cwd"]) / "build", src["name"]
        return {
            "prefix": str(prefix), **src, "outdir": str(out),
            "r1cs": str(out / f"{name}.r1cs"), "wasm": str(out / f"{name}_js" / f"{name}.wasm"),
            "input": str(write_json(wd / "input.json", first)),
            "inputs": str(write_json(wd / "eval_inputs.json", samples)),
            "wtns": str(wd / "witness.wtns"), "zkey": str(wd / "circuit.zkey"), "vk": str(wd / "vk.json"),
            "proof": str(wd / "proof.json"), "public": str(wd / "public.json"), "entropy": ENTROPY,
            "repeats": max(1, job.repeats), "setup_repeats": SETUP_REPEATS, "n_outputs": 10,
            "workers": os.cpu_count() or 1,  # the accuracy pass: witnesses in parallel processes
        }

    def sources(self, job: ModelJob) -> dict[str, Any]:
        """The circuit file, the directory circom runs in (it sees nothing outside it) and its include paths."""
        return {"name": CIRCUIT, "circuit": str(job.workdir / f"{CIRCUIT}.circom"), "cwd": str(job.workdir),
                "includes": [str(copy_templates(job.build.node_prefix, job.workdir))]}

    def run_stages(self, job: ModelJob, result: ModelResult, circuit: Circuit, args: dict[str, Any]) -> None:
        result.provenance.update(package_versions(Path(args["prefix"])))
        for stage in PIPELINE:
            if stage == "ptau":
                if not self.ptau(job, result, args):
                    return
                continue
            data = run_node_stage(job, result, stage, args)
            if data is None:
                return
            if stage == "compile":
                if not compiled(result, data, args):
                    return
            elif stage == "accuracy":
                from tracker.models.accuracy import accuracy

                result.accuracy = accuracy(job, [circuit.dequantize(o).tolist() for o in data["outputs"]])
                result.provenance["accuracy_workers"] = str(data.get("workers", 1))

    def ptau(self, job: ModelJob, result: ModelResult, args: dict[str, Any]) -> bool:
        """The ptau file of the circuit's power, made once per cache (under a lock) or found there."""
        power = args["power"]
        result.circuit["ptau_power"] = power
        path = ptau_path(job.cache_dir, power)
        args["ptau"] = str(path)
        if not path.exists() and power > MAX_LOCAL_POWER:
            result.add(StageResult("ptau", status=Status.UNSUPPORTED, reason=(
                f"the circuit needs powers of tau of power {power}; making one locally takes hours past power "
                f"{MAX_LOCAL_POWER}: put a ptau file (a public ceremony's) at {path}")))
            return False
        with ptau_lock(path):
            made = not path.exists() and self.make_ptau(job, result, args, path)
            if not path.exists():
                return False
        result.provenance["ptau"] = ptau_kind(path)
        result.provenance["ptau_file"] = str(path)
        meta = read_json(path.with_suffix(".json"))
        if isinstance(meta, dict) and isinstance(meta.get("seconds"), (int, float)):
            result.provenance["ptau_made_in"] = f"{meta['seconds']:.1f} s"
        result.provenance["ptau_reused"] = "no" if made else "yes"
        if not made:
            result.add(StageResult("ptau", reason=f"reused {path.name}, made earlier"))
        result.sizes["ptau_bytes"] = file_size(path)
        return True

    def make_ptau(self, job: ModelJob, result: ModelResult, args: dict[str, Any], path: Path) -> bool:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            slow = dataclasses.replace(job, limits=Limits(max(PTAU_LIMITS.timeout_s, job.limits.timeout_s),
                                                          job.limits.memory_mb))
            data = run_node_stage(slow, result, "ptau", {**args, "out": str(tmp)})
            if data is None:
                return False
            atomic_write_json(path.with_suffix(".json"), {
                "kind": f"local, power {args['power']}", "entropy": ENTROPY,
                "made_by": "snarkjs powersOfTau new + contribute + preparePhase2",
                "seconds": result.stages["ptau"].samples_s[0], **data})
            os.replace(tmp, path)
            return True
        finally:  # the stage's own intermediate files too, should it have been killed
            for leftover in (tmp, Path(f"{tmp}.0"), Path(f"{tmp}.1")):
                leftover.unlink(missing_ok=True)


# --- helpers ----------------------------------------------------------------------------------------

def run_node_stage(job: ModelJob, result: ModelResult, stage: str, args: dict[str, Any]) -> dict | None:
    args_file = write_json(job.workdir / "stages" / f"{stage}.args.json", args)
    out = job.workdir / "stages" / f"{stage}.result.json"
    # witnesses of the same circuit, weights and inputs are the same
    pure_of = [SCRIPT, Path(args["wasm"]), Path(args["input"]), Path(args["inputs"])] if stage == "accuracy" else []
    return run_stage(job, result, StageCall(stage, ["node", SCRIPT, stage, args_file, out], out, pure_of=pure_of))


def copy_templates(prefix: Path, workdir: Path) -> Path:
    """circomlib-ml's circuits, copied into the work dir: circom2 (WASI) opens no file outside its working
    dir, neither through `-l ../..` paths nor through symlinks (seen with 0.2.23); the copy is 172 KB."""
    dest = workdir / "circomlib-ml"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(prefix / "node_modules" / "circomlib-ml" / "circuits", dest)
    return dest


def compiled(result: ModelResult, r1cs: dict[str, Any], args: dict[str, Any]) -> bool:
    """Keep the circuit's size; refuse a circuit whose public outputs are not the model's (the proof would
    then say nothing about what the model computed)."""
    result.circuit["constraints"] = int(r1cs["nConstraints"])
    result.circuit["wires"] = int(r1cs["nVars"])
    result.circuit["private_inputs"] = int(r1cs["nPrvInputs"])
    result.circuit["public_outputs"] = int(r1cs["nOutputs"])
    if int(r1cs["nOutputs"]) != args["n_outputs"]:
        result.fail(Status.ERROR, f"compile: the circuit has {r1cs['nOutputs']} public outputs, "
                             f"the model {args['n_outputs']}")
        return False
    args["power"] = ptau_power(r1cs)
    return True


def ptau_power(r1cs: dict[str, Any]) -> int:
    """The smallest power snarkjs's newZKey accepts: floor(log2(constraints + public signals)) + 1."""
    n = int(r1cs["nConstraints"]) + int(r1cs["nPubInputs"]) + int(r1cs["nOutputs"])
    return max(1, n.bit_length())


def ptau_path(cache_dir: Path, power: int) -> Path:
    return cache_dir / "ptau" / f"bn128-{int(power):02d}.ptau"


@contextmanager
def ptau_lock(path: Path) -> Iterator[None]:
    """An exclusive lock beside a ptau file: one process makes it, the others wait and then reuse it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ptau_kind(path: Path) -> str:
    """"local, power N" for a file the tracker made (its sidecar says so); otherwise a file someone put there."""
    meta = read_json(path.with_suffix(".json"))
    if isinstance(meta, dict) and meta.get("kind"):
        return f"{meta['kind']} (snarkjs, fixed entropy: insecure, for benchmarks)"
    return "provided file (not made by the tracker; its origin is whoever put it there)"


def package_versions(prefix: Path) -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        meta = read_json(prefix / "node_modules" / name / "package.json")
        if isinstance(meta, dict):
            out[f"{name}_version"] = str(meta.get("version", "unknown"))
    return out
