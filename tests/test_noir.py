"""Noir + bb.js: the known-tau CRS, the bb.js release table, the generated Noir program, and one real
UltraHonk proof at a release that takes a locally made CRS.

The slow tests install bb.js 0.82.3 with Noir 1.0.0-beta.7 from npm into ZKML_TEST_CACHE (the tracker's
cache layout, about 150 MB, reused by later runs) and the CRS into the machine's ptau directory (2^18 + 1
points, seconds, once). Each compiles with noir_wasm (5-20 s); `linear` is proved and verified, `cnn` only
executed (noir_js) on 30 evaluation inputs.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.adapters import get_adapter
from tracker.adapters import bbcrs
from tracker.adapters.base import StageCall, run_stage, write_json
from tracker.adapters.noir import SCRIPT, NoirAdapter, compiler_for, stage_args, why_not
from tracker.adapters.noirgen import generate
from tracker.adapters.readiness import readiness
from tracker.build import ensure_build
from tracker.adapters import load_config
from tracker.history.revisions import Revision
from tracker.models.accuracy import judge
from tracker.models.zoo import get_model
from tracker.types import Build, ModelJob, Unsupported, Variant

# o1jsgen's fixed point, so o1js's bound: every output within this of the float model's at 10^3
MAX_ERROR = 0.05
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH")


def test_the_crs_is_tau_powers_of_g1_and_tau_g2_with_tau_two():
    points = bbcrs.g1_powers(5)
    assert points[0] == (1, 2)
    assert all((y * y - x ** 3 - 3) % bbcrs.P == 0 for x, y in points)
    assert points[2] == _g1_double(points[1])  # each point twice the one before
    x, y = bbcrs.g2_double(*bbcrs.G2)
    assert bbcrs.on_twist(*bbcrs.G2) and bbcrs.on_twist(x, y) and x != bbcrs.G2[0]


def test_each_bbjs_release_gets_its_compiler_or_the_reason_it_cannot_run():
    assert [compiler_for(v) for v in ("0.72.1", "0.82.2", "0.82.3", "0.85.0")] == \
        ["1.0.0-beta.3", "1.0.0-beta.3", "1.0.0-beta.7", "1.0.0-beta.7"]
    assert compiler_for("0.87.0") is compiler_for("5.0.0") is compiler_for("0.66.0") is None
    assert "msgpackr/pack" in why_not("0.86.0")
    assert "ignores bn254_g2.dat" in why_not("2.1.11") and "crs.aztec-labs.com" in why_not("4.4.0")
    assert "does not match the canonical trusted-setup" in why_not("5.0.0")
    assert "no Noir compiler release is known" in why_not("0.66.0")


def test_list_says_noir_can_run_here():
    fw = load_config(ROOT / "frameworks.yaml").framework("noir")
    assert readiness(fw).ready
    assert fw.history.select.range == "0.69.1..0.82.3"   # after 0.69.1: 0.72.1, the first release known to run


def test_a_release_past_the_crs_check_is_recorded_unsupported_with_why(tmp_path):
    fw = load_config(ROOT / "frameworks.yaml").framework("noir")
    build = Build("noir", "5" * 40, tmp_path, node_prefix=tmp_path, version="5.0.0")
    job = ModelJob(fw, build, get_model("linear"), Variant("default"), tmp_path, tmp_path)
    result = NoirAdapter().prove(job)
    assert result.status == "unsupported"
    assert "g1_points[1] does not match the canonical" in result.reason
    assert [result.stages[s].status for s in NoirAdapter.stages] == ["skipped"] * 4


def test_the_generated_program_has_one_function_a_layer_with_its_sizes():
    cnn = generate(get_model("cnn"), 3)
    assert "fn main(x: [Field; 36], w: [Field; 160]) -> pub [Field; 10]" in cnn.source
    assert "fn layer0(h: [Field; 36], w: [Field; 160]) -> [Field; 48]" in cnn.source  # conv 3x4x4
    assert "fn layer1(h: [Field; 48]) -> [Field; 12]" in cnn.source  # max pool 2
    assert f"global BOUND: Field = {cnn.plan.bound};" in cnn.source
    assert "fn layer1(" not in generate(get_model("linear"), 3).source
    with pytest.raises(Unsupported, match="u128"):
        generate(get_model("784_56_10"), 12)


def noir_job(cache: Path, workdir: Path, model: str, eval_count: int) -> ModelJob:
    """A job at bb.js 0.82.3 (with Noir 1.0.0-beta.7), built into the test cache once."""
    fw = load_config(ROOT / "frameworks.yaml").framework("noir")
    revision = Revision("0823" + "0" * 36, "0.82.3", datetime(2025, 4, 1, tzinfo=timezone.utc), version="0.82.3")
    outcome = ensure_build(fw, revision, get_adapter("noir"), cache)
    assert outcome.build is not None, outcome.reason
    return ModelJob(fw, outcome.build, get_model(model), Variant("default", (("decimals", 3),)), workdir, cache,
                    repeats=1, eval_count=eval_count)


@pytest.mark.slow
@needs_node
def test_the_compiled_cnn_agrees_with_the_float_model(tracker_cache, tmp_path):
    """Conv, max pooling and ReLU in Noir: noir_wasm compiles the program, noir_js executes it (no proof)."""
    job = noir_job(tracker_cache, tmp_path, "cnn", 30)
    result = job.new_result()
    program = NoirAdapter().program(job, result)
    out = tmp_path / "accuracy.json"
    argv = ["node", SCRIPT, "accuracy", write_json(tmp_path / "args.json", stage_args(job, program)), out]
    data = run_stage(job, result, StageCall("accuracy", argv, out))
    assert data is not None, result.reason
    judged = judge(job.model, 30, [program.plan.dequantize(o).tolist() for o in data["outputs"]])
    assert judged["n"] == 30 and judged["max_abs_error"] < MAX_ERROR and judged["top1_agreement"] == 1.0
    assert max(abs(int(v)) for o in data["outputs"] for v in o) < program.plan.bound // 2


@pytest.mark.slow
@needs_node
def test_linear_proves_and_verifies_with_a_locally_made_crs(tracker_cache, tmp_path):
    job = noir_job(tracker_cache, tmp_path, "linear", 50)
    result = NoirAdapter().prove(job)
    assert result.status == "ok", result.reason
    assert result.provenance["noir_version"].startswith("1.0.0-beta.7+")
    assert result.provenance["bbjs_version"] == "0.82.3" and "insecure" in result.provenance["crs"]
    assert result.accuracy["n"] == 50 and result.accuracy["max_abs_error"] < MAX_ERROR
    assert result.accuracy["top1_agreement"] == 1.0
    assert 100 < result.circuit["gates"] <= 2 ** result.circuit["logrows"]
    assert 10_000 < result.sizes["proof_bytes"] < 20_000 and result.sizes["vk_bytes"] > 1000
    assert result.provenance["proved_outputs"].count(",") == 9
    # the proof is of its public outputs: the first one claimed one higher, and it no longer verifies
    proof = Path(tmp_path / "proof")
    data = bytearray(proof.read_bytes())
    data[35] ^= 1  # the last byte of the first public input (after the 4-byte length)
    proof.write_bytes(bytes(data))
    tampered = job.new_result()
    out = tmp_path / "stages" / "verify.result.json"
    argv = ["node", SCRIPT, "verify", out.with_suffix(".args.json"), out]
    assert run_stage(job, tampered, StageCall("verify", argv, out)) is None
    assert tampered.stages["verify"].status == "error"


def _g1_double(point):
    x, y = point
    lam = 3 * x * x * pow(2 * y, -1, bbcrs.P) % bbcrs.P
    x3 = (lam * lam - 2 * x) % bbcrs.P
    return x3, (lam * (x - x3) - y) % bbcrs.P
