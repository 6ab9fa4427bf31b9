"""keras2circom end to end: its git history (a local copy: GitHub is out of reach here), TensorFlow, proofs.

Two commits of the real repo: ba2209d (2023-10, the last whose package.json asks for circomlib-ml ^1.4,
which npm has) is built, transpiles the zoo's mlp and proves it (its one-layer `linear` circuit has no
output, a transpiler bug the record names); 0a29566 (2024-02, the newest,
circomlib-ml ^2.1, which npm does not have) fails its build, and the run says why and goes on.
The repo comes from ZKML_KERAS2CIRCOM_REPO (a clone or bare mirror; default /tmp/keras2circom).
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.cli import main
from tracker.types import ModelJob, Variant

pytestmark = pytest.mark.slow
REPO = Path(os.environ.get("ZKML_KERAS2CIRCOM_REPO", "/tmp/keras2circom"))
LAST_1X, NEWEST = "ba2209d", "0a29566"


def config(repo: Path) -> str:
    return textwrap.dedent(f"""\
        version: 1
        frameworks:
          - name: keras2circom
            adapter: keras2circom
            proof_system: Groth16 (R1CS)
            setup: trusted
            model_format: tf.keras (h5)
            repo: {repo}
            history: {{kind: commits, branch: main}}
            build:
              kind: commands
              commands: ["npm install --no-audit --no-fund"]
              toolchains: [npm]
        """)


@pytest.mark.skipif(not (REPO / ".git").exists() and not (REPO / "HEAD").exists(),
                    reason=f"no local copy of the keras2circom repo at {REPO} (set ZKML_KERAS2CIRCOM_REPO)")
def test_transpiled_linear_model_proves_and_the_2x_build_failure_is_reported(tmp_path, tracker_cache,
                                                                             monkeypatch, capsys):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    path = tmp_path / "frameworks.yaml"
    path.write_text(config(REPO))
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    status = main(["--config", str(path), "--cache", str(tracker_cache), "run", "-f", "keras2circom",
                   "-r", LAST_1X, "-r", NEWEST, "-m", "linear", "-m", "mlp", "--repeats", "2", "--eval-count", "50"])
    out = capsys.readouterr().out
    assert status == 1, out  # the newest commit cannot be built from npm
    assert "404 Not Found - GET https://registry.npmjs.org/circomlib-ml/-/circomlib-ml-2.1.0.tgz" in out, out

    records = {p.name.split("--")[0]: json.loads(p.read_text())
               for p in (tmp_path / "results" / "keras2circom" / "records").rglob("*.json")}
    # ba2209d declares the circuit's output only after a first component: a one-layer model gets none
    assert records["linear"]["status"] == "error"
    assert records["linear"]["reason"] == "compile: the circuit has 0 public outputs, the model 10"
    mlp = records["mlp"]
    assert mlp["status"] == "ok", mlp["reason"]
    assert mlp["circuit"]["constraints"] == 4584 and mlp["circuit"]["ptau_power"] == 13
    assert mlp["provenance"]["circomlib-ml_version"] == "1.4.4"
    assert mlp["provenance"]["tensorflow_version"].startswith("2.1")
    # keras2circom 1.x scales weights as far as the field allows: its outputs are all but exact
    assert mlp["accuracy"]["top1_agreement"] == 1.0 and mlp["accuracy"]["max_abs_error"] < 1e-4
    assert 600 <= mlp["sizes"]["proof_bytes"] <= 1200
    assert [s for s, v in mlp["stages"].items() if v["status"] != "ok"] == []


CIRCOMLIB_ML = Path(os.environ.get("ZKML_CIRCOMLIB_ML_DIR", "/tmp/circomlib-ml"))


@pytest.mark.skipif(not (REPO / ".git").exists() or not (CIRCOMLIB_ML / "circuits" / "Dense.circom").exists(),
                    reason=f"needs a clone of keras2circom at {REPO} and of circomlib-ml (2.x) at {CIRCOMLIB_ML}")
def test_newest_transpiler_with_circomlib_ml_2_from_a_local_copy(tmp_path, tracker_cache):
    """0a29566 with circomlib-ml 2.x from its repo: cnn's circuit matches the float model; the tiny dense
    nets fail with the transpiler's own reasons. No proof: the cnn needs ptau power 15 (many minutes)."""
    from tracker.adapters import get_adapter
    from tracker.adapters.circom import ptau_power, run_node_stage
    from tracker.adapters.ezkl import accuracy
    from tracker.build import ensure_build
    from tracker.adapters import load_config
    from tracker.history import open_history
    from tracker.models.zoo import get_model

    path = tmp_path / "frameworks.yaml"
    path.write_text(config(REPO).replace('"npm install --no-audit --no-fund"',
                                         f'"npm install --no-audit --no-fund --install-links {CIRCOMLIB_ML}"'))
    framework, cache = load_config(path).framework("keras2circom"), tracker_cache
    history = open_history(framework, cache)
    revision = history.resolve(NEWEST)
    adapter = get_adapter("keras2circom")
    built = ensure_build(framework, revision, adapter, cache, checkout=history.checkout_fn(revision))
    assert built.build is not None, built.reason

    def job(model: str, variant: Variant = Variant("default")) -> ModelJob:
        (tmp_path / model).mkdir()
        return ModelJob(framework, built.build, get_model(model), variant, tmp_path / model, cache, repeats=1,
                   eval_count=100)

    cnn = job("cnn", Variant("d3", (("decimals", 3),)))
    result = cnn.new_result()
    circuit = adapter.circuit(cnn, result)
    assert circuit is not None, result.reason
    assert result.settings["decimals"] == 3 and circuit.input_scale == 0 and len(circuit.extras) == 100
    args = adapter.prepare(cnn, circuit)
    compiled = run_node_stage(cnn, result, "compile", args)
    assert compiled["nOutputs"] == 10 and ptau_power(compiled) == 15
    outputs = run_node_stage(cnn, result, "accuracy", args)["outputs"]
    acc = accuracy(cnn, [circuit.dequantize(o).tolist() for o in outputs])
    assert acc["top1_agreement"] >= 0.95 and acc["max_abs_error"] < 0.1, acc

    mlp = adapter.prove(job("mlp"))
    assert mlp.reason == "transpile: main.py failed: ValueError: not enough values to unpack (expected 3, got 1)"
    linear = adapter.prove(job("linear"))
    assert linear.reason == "compile: the circuit has 0 public outputs, the model 10"
    assert linear.stages["setup"].status == "skipped"
