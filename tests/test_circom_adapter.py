"""The circom adapter with the real toolchain from npm: circomlib-ml 1.4.4, circom2 (WASM) and snarkjs.

The npm prefix is cached in ZKML_TEST_CACHE (the tracker's own cache layout) and the powers of tau in its
ptau/ (tests/conftest.py), so a warm run does no install; a cold one writes the known-tau files of
powers 9 (linear) and 13 (mlp) in seconds. The build and the proof of `linear` are conftest's session
fixtures (circom_build, circom_linear): tests/test_accuracy_labels.py reads the same proof.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.adapters import ptau
from tracker.adapters.circom import CircomAdapter, ptau_power, run_node_stage
from tracker.adapters.circomgen import generate
from tracker.adapters.ptau import KNOWN_TAU
from tracker.cli import main
from tracker.models.zoo import get_model
from tracker.types import ModelJob, Unsupported, Variant

pytestmark = pytest.mark.slow
VERSION = "1.4.4"


def make_job(build, cache, workdir: Path, model: str, decimals: int = 3, repeats: int = 2, eval_count=100):
    framework, b = build
    workdir.mkdir(parents=True, exist_ok=True)
    return ModelJob(framework, b, get_model(model), Variant("default", (("decimals", decimals),)), workdir, cache,
               repeats=repeats, eval_count=eval_count)


def test_linear_proves_and_verifies_with_sane_figures(circom_linear):
    job, result = circom_linear
    assert result.status == "ok", result.reason
    assert [s for s in ("compile", "witness", "accuracy", "ptau", "setup", "prove", "verify")
            if result.stages[s].status != "ok"] == []
    assert result.circuit["constraints"] == 320  # 16 x 10 products, two constraints each in matMul
    assert result.circuit["ptau_power"] == 9 == ptau_power({"nConstraints": 320, "nPubInputs": 0, "nOutputs": 10})
    assert 600 <= result.sizes["proof_bytes"] <= 1200 and result.sizes["proof_raw_bytes"] == 256
    assert result.sizes["vk_bytes"] > 1000 and result.sizes["pk_bytes"] > result.sizes["vk_bytes"]
    assert result.sizes["vk_raw_bytes"] == (2 + 3 * 4 + 2 * 11) * 32  # alpha, beta, gamma, delta, 10 outputs + 1
    assert len(result.stages["prove"].samples_s) == 2 and result.stages["prove"].peak_rss_bytes > 10 << 20
    # each repeat's own peak, measured inside the node process (its high-water mark reset before each)
    peaks = result.stages["prove"].peak_rss_samples
    assert len(peaks) == 2 and all(10 << 20 < p <= result.stages["prove"].peak_rss_bytes for p in peaks), peaks
    assert all(0 < s < 30 for s in result.stages["verify"].samples_s)
    assert result.accuracy["n"] == 100 and result.accuracy["top1_agreement"] >= 0.98
    assert result.accuracy["max_abs_error"] < 0.05
    assert result.provenance["ptau"] == KNOWN_TAU
    assert result.provenance["circomlib-ml_version"] == VERSION and result.settings["decimals"] == 3


@pytest.mark.parametrize("target", ["proof", "public"])
def test_a_tampered_proof_or_claimed_output_is_rejected(circom_linear, target):
    job, result = circom_linear
    args = json.loads((job.workdir / "stages" / "verify.args.json").read_text())
    path = Path(args[target])
    original = path.read_text()
    data = json.loads(original)
    if target == "proof":
        data["pi_a"][0] = str(int(data["pi_a"][0]) + 1)
    else:
        data[0] = str(int(data[0]) + 1)  # claim another output for the same proof
    try:
        path.write_text(json.dumps(data))
        tampered = job.new_result()
        assert run_node_stage(job, tampered, "verify", args) is None
        assert "proof rejected" in tampered.stages["verify"].reason
    finally:
        path.write_text(original)
    again = job.new_result()
    assert run_node_stage(job, again, "verify", args) == {"verified": True, "curve_init_s": pytest.approx(0, abs=60)}


def test_mlp_proves_with_relu_at_521_constraints_each(circom_build, tracker_cache, tmp_path):
    result = CircomAdapter().prove(make_job(circom_build, tracker_cache, tmp_path, "mlp", repeats=1, eval_count=200))
    assert result.status == "ok", result.reason
    relu = result.circuit["constraints"] - 2 * (16 * 8 + 8 * 10)
    assert relu == 8 * 521 and result.circuit["ptau_power"] == 13
    assert result.accuracy["top1_agreement"] >= 0.98 and result.accuracy["max_abs_error"] < 0.1


def test_cnn_circuit_layouts_match_the_float_model(circom_build, tracker_cache, tmp_path):
    """Conv weights, HWC images and the flatten order: the circuit's witnesses agree with the float cnn.

    Compile and witnesses only: its proof is the default job's (README command 1).
    """
    job = make_job(circom_build, tracker_cache, tmp_path, "cnn", eval_count=200)
    adapter, result = CircomAdapter(), job.new_result()
    circuit = adapter.circuit(job, result)
    args = adapter.prepare(job, circuit)
    compiled = run_node_stage(job, result, "compile", args)
    assert compiled is not None, result.reason
    assert ptau_power(compiled) == 15
    shutil.rmtree(tracker_cache / "stage-data", ignore_errors=True)
    data = run_node_stage(job, result, "accuracy", {**args, "workers": 2})
    from tracker.adapters.ezkl import accuracy

    acc = accuracy(job, [circuit.dequantize(o).tolist() for o in data["outputs"]])
    assert acc["top1_agreement"] >= 0.98 and acc["max_abs_error"] < 0.1, acc
    # two forked workers, 100 inputs each, give back exactly what one process does, in input order
    assert data["workers"] == 2 and len(result.stages["accuracy"].samples_s) == 200
    alone = run_node_stage(dataclasses.replace(job, cache_dir=tmp_path / "fresh-cache"), job.new_result(),
                           "accuracy", {**args, "workers": 1})
    assert alone["workers"] == 1 and alone["outputs"] == data["outputs"]
    # the same circuit and inputs again: the witnesses are read back, not made again
    again = job.new_result()
    assert run_node_stage(job, again, "accuracy", args)["outputs"] == data["outputs"]
    assert again.stages["accuracy"].reason.startswith("reused ") and again.stages["accuracy"].samples_s == []


def test_scales_follow_decimals_and_a_huge_circuit_is_refused_with_a_reason(circom_build, tracker_cache, tmp_path):
    coarse = generate(get_model("mlp"), 1)
    assert coarse.output_scale == 10 ** 3 and generate(get_model("mlp"), 3).output_scale == 10 ** 9
    with pytest.raises(Unsupported, match="no headroom"):
        generate(get_model("mlp"), 25)
    job = make_job(circom_build, tracker_cache, tmp_path, "linear", decimals=1)
    result = job.new_result()
    args = {"power": 22}
    assert CircomAdapter().ptau(job, result, args) is False
    assert result.stages["ptau"].status == "unsupported" and "power 22" in result.stages["ptau"].reason


def test_run_command_end_to_end_into_asv_and_the_site(tmp_path, tracker_cache, monkeypatch, capsys):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    results, html = tmp_path / "results", tmp_path / "html"
    status = main(["--config", str(ROOT / "frameworks.yaml"), "--results", str(results), "--html", str(html),
                   "--cache", str(tracker_cache), "run", "-f", "circom", "-r", VERSION, "-m", "linear",
                   "--repeats", "2", "--eval-count", "50"])
    out = capsys.readouterr().out
    assert status == 0, out
    record = json.loads(next((results / "circom" / "records").rglob("linear--default.json")).read_text())
    assert record["status"] == "ok" and record["provenance"]["ptau"] == KNOWN_TAU
    name = "benchmarks.CircuitConstraints.track_circuit_constraints.json"
    graph = next(p for p in (html / "circom" / "graphs").rglob(name) if "summary" not in p.parts)
    assert [v for _, v in json.loads(graph.read_text())] == [[320.0]]  # one point: linear, default
    page = (html / "index.html").read_text()
    assert "circom" in page and f"keys from powers of tau: {KNOWN_TAU}" in page


def test_two_jobs_wanting_the_same_ptau_make_it_once(circom_build, tmp_path, monkeypatch):
    """The second waits on the lock, then reuses the file; no temporary file is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv(ptau.DIR_ENV, str(tmp_path / "ptau"))
    jobs = [make_job(circom_build, tmp_path / f"cache{i}", tmp_path / f"job{i}", "linear") for i in range(2)]
    results = [job.new_result() for job in jobs]
    args = [{"prefix": str(job.build.node_prefix), "power": 5} for job in jobs]
    with ThreadPoolExecutor(2) as pool:
        ok = list(pool.map(CircomAdapter().ptau, jobs, results, args))
    assert ok == [True, True]
    assert sorted(r.provenance["ptau_reused"] for r in results) == ["no", "yes"]
    assert sorted(p.name for p in (tmp_path / "ptau").iterdir()) == [
        ".known-tau-bn128-05.ptau.lock", "known-tau-bn128-05.json", "known-tau-bn128-05.ptau"]
    assert args[0]["ptau"] == args[1]["ptau"] == str(ptau.written_path(5))
