"""opML (hyperoracle/opml): optimistic ML. The inference runs in a MIPS VM; a dispute game settles a challenge.

There is no validity proof and nothing is zero-knowledge: a result stands unless someone challenges it,
and a challenge is settled by bisecting the two parties' execution traces down to one MIPS step, which
a contract on chain re-executes. So this adapter records no `prove` or `verify` stage. It records:
- `golden`: the initial VM image (the program, model and input as a Merkle trie) a proposer commits to;
- `execute`: the inference itself in the MIPS VM (`mlvm --mipsVMCompatible`, unicorn), to the final
  checkpoint; its MIPS step count is the "circuit size" here;
- `challenge`: the fraud-proof game of the repo's own demo (demo/challenge_simple.sh): a local hardhat
  node, the contracts deployed, a challenger claiming a wrong final state (`OUTPUTFAULT=1`, the fault
  injection run_unicorn.go offers), 25 bisection rounds, then the single on-chain step. Timed as one
  stage (node start-up included), with the number of rounds and the contract's verdict kept.

Build: the README's `make build` (git submodules unicorn and mlgo, libunicorn with cmake, `go build` of
mlvm, the contracts with hardhat, the MNIST program cross-compiled to MIPS). Go modules come from
proxy.golang.org: where it is out of reach the build fails and says so.

Model: the stock MIPS program (mlgo/examples/mnist_mips) reads 784 input bytes (28x28 pixels, 0-255)
and a ggml file of two dense layers with a ReLU between them, so only zoo nets of that shape run (784_56_10);
the others are recorded as unsupported. The zoo's inputs are pixels / 255: that factor is folded into
the first layer's weights, so the MIPS program computes the zoo model's function on the same pixels.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from tracker.adapters.base import Adapter, timed_stage
from tracker.adapters.toolchains import CMAKE, GO, MAKE, NODE
from tracker.measure import ChildFailed, no_verdict, run_measured
from tracker.models.accuracy import first_input_reference, single_input_accuracy
from tracker.records import ModelResult, Status
from tracker.types import Build, BuildError, ModelJob, Unsupported

GGML_MAGIC = 0x67676D6C
PROGRAM = "mlgo/examples/mnist_mips/mlgo.bin"
BISECTION_ROUNDS = 25  # demo/challenge_simple.sh
PIPELINE = ("golden", "execute", "challenge")
LABELS = {
    "golden": "initial MIPS VM image (Merkle trie) of program, model and input",
    "execute": "execute: the inference in the MIPS VM to its final checkpoint; no proof is made",
    "challenge": "fraud-proof game: deploy, challenge a wrong claim, 25 bisection rounds, one on-chain step",
}


class OpmlAdapter(Adapter):
    name = "opml"
    toolchains = (GO, NODE, CMAKE, MAKE)
    fetches_from = {"github.com": "git submodules unicorn and mlgo"}
    stages = PIPELINE

    def build(self, framework, revision, source: Path | None, build_dir: Path, log_path: Path) -> Build:

        if source is None:
            raise BuildError("opml builds from a source checkout: give the framework a 'commits' history")
        for argv in build_commands():
            try:
                run_measured(argv, log_path=log_path, cwd=source, limits=framework.build.limits,
                             env=build_env(build_dir))
            except ChildFailed as exc:
                if no_verdict(exc):  # a limit or a kill from outside: the build is tried again
                    raise
                raise BuildError(build_failure_reason(exc.log_tail, exc.reason)) from None
        return Build(framework=framework.name, revision=revision.sha, path=build_dir, source=source,
                     version=revision.version)

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict[str, Any]) -> None:
        from tracker.models.zoo import eval_set, layer_params

        src = job.build.source
        if src is None:
            result.fail(Status.ERROR, f"build {job.build.revision} has no source checkout")
            return
        try:
            model_bytes = ggml_model(layer_params(job.model))
        except Unsupported as exc:
            result.fail(Status.UNSUPPORTED, f"opML's MNIST MIPS program: {exc}")
            return
        x, _ = eval_set(job.model, 1)
        wd = job.workdir
        (wd / "model.bin").write_bytes(model_bytes)
        (wd / "input.bin").write_bytes(input_bytes(x[0]))
        dirs = {"defender": wd / "cannon", "challenger": wd / "cannon_fault"}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        files.update({"program": src / PROGRAM, "model": wd / "model.bin", "data": wd / "input.bin"})
        result.provenance.update({f"stage_{k}": v for k, v in LABELS.items()})
        result.provenance["proof"] = "none: optimistic, fraud proofs only when challenged; not zero-knowledge"
        result.provenance["timing"] = "wall time of each command, its start-up included"
        if timed_stage(job, result, "golden", mlvm_command(src, dirs["defender"], files, golden=True), 1,
                       cwd=src) is None:
            return
        if timed_stage(job, result, "execute", mlvm_command(src, dirs["defender"], files), job.repeats,
                       cwd=src) is None:
            return
        run = parse_mlvm((wd / "logs" / "execute.log").read_text(errors="replace"))
        if run.get("steps"):
            result.circuit["mips_steps"] = run["steps"]
        if "predicted" in run:
            result.accuracy = predicted_agreement(job, run["predicted"])
        if timed_stage(job, result, "challenge", challenge_script(src, dirs, files), 1, cwd=src) is None:
            return
        game = parse_challenge((wd / "logs" / "challenge.log").read_text(errors="replace"))
        result.circuit["bisection_rounds"] = game["rounds"]
        result.settings["challenge_verdict"] = game.get("verdict", "none")
        if game.get("verdict") not in ("ChallengerLoses", "ChallengerLosesByDefault"):
            result.fail(Status.ERROR, f"challenge: the wrong claim was not rejected (verdict {game.get('verdict')})")


# --- commands (pure) ---------------------------------------------------------------------------------

def build_env(build_dir: Path) -> dict[str, str]:
    import os

    return {**os.environ, "GOPATH": str(build_dir / "gopath"), "GOFLAGS": "-modcacherw"}


def build_commands() -> list[list[str]]:
    """The README's `make build`; its submodules use ssh URLs, fetched here over https."""
    return [
        ["git", "-c", "url.https://github.com/.insteadOf=git@github.com:", "submodule", "update", "--init"],
        ["make", "build"],
    ]


def mlvm_command(src: Path, basedir: Path, files: dict[str, Path], golden: bool = False) -> str:
    flags = f"--basedir={basedir} --program={files['program']} --model={files['model']} --data={files['data']}"
    return f"{src}/mlvm/mlvm {'--outputGolden ' if golden else ''}{flags} --mipsVMCompatible"


def challenge_script(src: Path, dirs: dict[str, Path], files: dict[str, Path]) -> str:
    """demo/challenge_simple.sh's game on a local hardhat node, with a challenger whose claim is wrong.

    opML's deploy.js writes a fixed /tmp/cannon/deployed.json, which two jobs at once would share: it is
    run from a copy (beside it, so its relative requires hold) that writes into the defender's own dir.
    """
    d, c = dirs["defender"], dirs["challenger"]
    env = f"PROGRAM_PATH={files['program']} MODEL_PATH={files['model']} DATA_PATH={files['data']} ID=0"
    hh = "npx hardhat run --network localhost"
    rounds = " ".join(str(i) for i in range(1, BISECTION_ROUNDS + 1))
    return "\n".join([
        "set -e",
        "npx hardhat node > hardhat-node.log 2>&1 &",
        "NODE_PID=$!",
        "trap 'kill $NODE_PID 2>/dev/null || true' EXIT",
        "for i in $(seq 60); do curl -s -o /dev/null http://127.0.0.1:8545 && break; sleep 1; done",
        f"DEPLOY=scripts/.deploy-$$.js; sed 's#/tmp/cannon#{d}#g' scripts/deploy.js > $DEPLOY",
        "trap 'kill $NODE_PID 2>/dev/null || true; rm -f $DEPLOY' EXIT",
        f"mkdir -p {d} && {env} {hh} $DEPLOY",
        f"cp {d}/golden.json {d}/deployed.json {c}/",
        f"OUTPUTFAULT=1 {mlvm_command(src, c, files)}",
        f"{env} BASEDIR={c} {hh} scripts/challenge.js",
        f"for i in {rounds}; do",
        f"  echo \"--- STEP $i / {BISECTION_ROUNDS} ---\"",
        f"  {env} BASEDIR={c} CHALLENGER=1 {hh} scripts/respond.js",
        f"  {env} BASEDIR={d} CHALLENGER=0 {hh} scripts/respond.js",
        "done",
        f"{env} BASEDIR={d} {hh} scripts/assert.js",
    ])


def build_failure_reason(log_tail: str, fallback: str) -> str:
    if re.search(r"proxy\.golang\.org|dial tcp: lookup|go: downloading .*\n.*(timeout|no such host)", log_tail):
        return ("Go modules unreachable: `go build` of mlvm could not download its modules from "
                "proxy.golang.org; build where it is reachable, or fill GOPATH's module cache first")
    if re.search(r"fatal: unable to access 'https://github.com|Could not resolve host: github.com", log_tail):
        return "git submodules unicorn and mlgo could not be fetched from github.com"
    if "npm ERR!" in log_tail or "ENOTFOUND registry.npmjs.org" in log_tail:
        return "npm packages for the hardhat contracts did not install"
    last = [line for line in log_tail.splitlines() if line.strip()]
    return f"{fallback}: {last[-1].strip()[:200]}" if last else fallback


def ggml_model(layers) -> bytes:
    """The file mlgo's convert-h5-to-ggml.py writes: big-endian magic, then per tensor n_dims, dims
    (innermost first), float32 data; weights in torch's [out, in] order. Pixels/255 is folded into fc1."""
    dense = [(w, b) for layer, w, b in layers if layer.kind == "dense"]
    kinds = [layer.kind for layer, _, _ in layers]
    if kinds != ["dense", "relu", "dense"] or dense[0][0].shape[0] != 784 or dense[1][0].shape[1] != 10:
        raise Unsupported("it reads 784 input bytes and dense, ReLU, dense to 10 outputs; this model is "
                          + " ".join(kinds))
    out = bytearray(struct.pack(">i", GGML_MAGIC))
    for i, (w, b) in enumerate(dense):
        torch_w = (w / 255.0 if i == 0 else w).T.astype(">f4")  # [out, in]
        for tensor in (torch_w, b.astype(">f4")):
            out += struct.pack(">i", tensor.ndim)
            out += b"".join(struct.pack(">i", d) for d in reversed(tensor.shape))
            out += tensor.tobytes()
    return bytes(out)


def input_bytes(x: np.ndarray) -> bytes:
    return np.clip(np.rint(np.asarray(x).reshape(-1) * 255.0), 0, 255).astype(np.uint8).tobytes()


# --- output parsing (pure) ---------------------------------------------------------------------------

def parse_mlvm(log: str) -> dict[str, Any]:
    """mlvm's lines (mlvm/vm/vm.go, MIPSRunCompatible) and the MIPS program's own stdout, last run wins."""
    out: dict[str, Any] = {}
    for line in log.splitlines():
        m = re.match(r"lastStep:\s+(\d+)", line.strip())
        if m:
            out["steps"] = int(m.group(1))
        m = re.match(r"Predicted digit is\s+(\d+)", line.strip())
        if m:
            out["predicted"] = int(m.group(1))
        m = re.match(r"writing \S*checkpoint_final\.json len \d+ with root (0x[0-9a-f]+)", line.strip())
        if m:
            out["final_root"] = m.group(1)
    return out


def parse_challenge(log: str) -> dict[str, Any]:
    """Rounds answered and the verdict from scripts/respond.js and scripts/assert.js's output."""
    rounds = (len(re.findall(r"^new root 0x[0-9a-f]+", log, re.M)) + 1) // 2  # both parties answer a round
    verdicts = re.findall(r"'(Challenger\w+)'", log)
    out: dict[str, Any] = {"rounds": rounds, "search_done": "search is done" in log}
    challenge = re.search(r"new challenge with id (\d+)", log)
    if challenge:
        out["challenge_id"] = int(challenge.group(1))
    if verdicts:
        out["verdict"] = verdicts[-1]
    return out


def predicted_agreement(job: ModelJob, predicted: int) -> dict[str, float]:
    return single_input_accuracy(first_input_reference(job.model), predicted=predicted)

