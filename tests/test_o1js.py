"""o1js: the generated ZkProgram's fixed-point forward pass, the stage script across o1js's API changes, and
one real proof at the newest release this file knows.

The generator's check runs the generated module in node with BigInt arithmetic (no o1js, seconds). The
other tests install o1js releases from npm into ZKML_TEST_CACHE (the tracker's own cache layout, about
200 MB a release, reused by later runs). One proof of `linear` at the newest release is made once, by a
module fixture, and read by the tests that need it. Where its time goes (2.15.0, 1 sample a stage, seen
at load 6-8, 228 s for the test): the npm prefix was already in the test cache; accuracy 3 s; the compile 64 s wall /
41 s CPU; the prove stage 73 s (its compile from the setup's key cache 5 s, the proof 67 s / 48 s CPU);
the verify stage 85 s, of which the first verification in the process is 68 s / 33 s CPU (o1js computing
the wrap domain's Lagrange basis inside kimchi; setting o1js's SRS cache for verify, tried, wrote no
basis and saved nothing), then 7 s / 3 s CPU a verification, then the proof claiming another output, rejected in the same
process. Before, that rejection was checked in a second verify process, which paid the first
verification's tens of seconds again.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker.adapters import get_adapter
from tracker.adapters.o1js import O1jsAdapter, run_o1js_stage, stage_args
from tracker.adapters.o1jsgen import generate
from tracker.build import ensure_build
from tracker.adapters import load_config
from tracker.history.revisions import Revision
from tracker.models.accuracy import judge
from tracker.models.zoo import eval_set, get_model
from tracker.types import ModelJob, Unsupported, Variant
from tracker.store.paths import FrameworkStore

NEWEST = "2.15.0"
# the stage script's three method forms: 0.x sync, returns the output; 1.x async, returns the output;
# 2.x async, returns { publicOutput }
OLDER = ("1.9.1", "0.15.4")
# at 10^3 every output is within this of the float model's on the whole evaluation set (seen: 0.013
# linear, 0.040 mlp, 0.024 cnn): quantizing inputs, weights and biases to 3 decimals, no truncation
MAX_ERROR = 0.05

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH")


def o1js_build(cache: Path, version: str):
    framework = load_config(ROOT / "frameworks.yaml").framework("o1js")
    sha = (version.replace(".", "") + "0" * 40)[:40]
    revision = Revision(sha, version, datetime(2025, 1, 1, tzinfo=timezone.utc), version=version)
    outcome = ensure_build(framework, revision, get_adapter("o1js"), cache)
    assert outcome.build is not None, outcome.reason
    return framework, outcome.build


def make_job(built, cache: Path, workdir: Path, model: str, repeats: int = 1, eval_count: int | None = 50):
    framework, build = built
    workdir.mkdir(parents=True, exist_ok=True)
    return ModelJob(framework, build, get_model(model), Variant("default", (("decimals", 3),)), workdir, cache,
                    repeats=repeats, eval_count=eval_count)


def bigint_outputs(tmp_path: Path, model_name: str) -> tuple[list, object]:
    """The generated program's outputs on the whole evaluation set, in node's BigInt arithmetic."""
    program = generate(get_model(model_name), 3)
    tmp_path.mkdir(parents=True, exist_ok=True)
    module = tmp_path / "model.mjs"
    module.write_text(program.source)
    inputs, _ = eval_set(get_model(model_name))
    args = {"module": str(module), "weights": [str(w) for w in program.weights],
            "images": [program.input_values(x) for x in inputs]}
    (tmp_path / "args.json").write_text(json.dumps(args))
    from tracker.measure import run_measured

    script = ROOT / "tracker" / "adapters" / "scripts" / "o1js_stage.mjs"
    run_measured(["node", script, "forward", tmp_path / "args.json", tmp_path / "out.json"],
                 log_path=tmp_path / "forward.log")
    return json.loads((tmp_path / "out.json").read_text())["data"]["outputs"], program


@needs_node
@pytest.mark.parametrize("model_name", ["linear", "mlp", "cnn"])
def test_the_generated_program_agrees_with_the_float_model(tmp_path, model_name):
    outputs, program = bigint_outputs(tmp_path, model_name)
    model = get_model(model_name)
    judged = judge(model, None, [program.dequantize(o).tolist() for o in outputs])
    assert judged["n"] == len(eval_set(model)[1]) == 497
    assert judged["max_abs_error"] < MAX_ERROR
    assert judged["top1_agreement"] == 1.0
    assert max(abs(int(v)) for o in outputs for v in o) < program.bound // 2  # ReLU's offset compare holds


def test_the_generator_states_scales_and_refuses_what_the_field_cannot_compare():
    linear, mlp = generate(get_model("linear"), 3), generate(get_model("mlp"), 3)
    assert (linear.output_scale, mlp.output_scale) == (10 ** 6, 10 ** 9)
    assert (linear.n_inputs, len(linear.weights), linear.n_outputs) == (16, 16 * 10 + 10, 10)
    assert "function relu" in mlp.source and "function relu" not in linear.source
    assert "conv2d(ops, h, w, 0, 1, 3, 3, 6, 6)" in generate(get_model("cnn"), 3).source
    with pytest.raises(Unsupported, match="o1js's comparisons"):
        generate(get_model("28_6_16_120_84_10_5"), 20)


@pytest.mark.slow
@pytest.mark.parametrize("version", [NEWEST, *OLDER])
def test_the_stage_script_drives_each_api_to_the_same_outputs(tracker_cache, tmp_path, version):
    """The accuracy stage defines the ZkProgram (each release's method form), counts its rows and runs the
    forward pass in Field arithmetic: the outputs are the BigInt pass's, bit for bit."""
    expected, program = bigint_outputs(tmp_path / "bigint", "mlp")
    job = make_job(o1js_build(tracker_cache, version), tracker_cache, tmp_path / "job", "mlp", eval_count=None)
    (job.workdir / "model.mjs").write_text(program.source)
    result = job.new_result()
    data = run_o1js_stage(job, result, "accuracy", stage_args(job, program))
    assert data is not None, result.reason
    assert data["o1js"] == version and data["outputs"] == expected
    # 8 ReLUs: o1js 1.x rewrote Field comparisons (about 30x fewer rows than 0.x)
    assert data["rows"] == (449 if not version.startswith("0.") else 4304)


@pytest.fixture(scope="module")
def linear_at_newest(tracker_cache, tmp_path_factory):
    """One real proof of `linear` at the newest release (1 sample a stage, 50 evaluation images), made once
    for every test that reads it: (job, result)."""
    job = make_job(o1js_build(tracker_cache, NEWEST), tracker_cache, tmp_path_factory.mktemp("o1js-linear"),
                   "linear")
    return job, O1jsAdapter().prove(job)


@pytest.mark.slow
def test_linear_proves_and_verifies_at_the_newest_release(linear_at_newest):
    _, result = linear_at_newest
    assert result.status == "ok", result.reason
    assert [s for s in O1jsAdapter.stages if result.stages[s].status != "ok"] == []
    assert result.circuit["rows"] == 80 and result.provenance["o1js_version"] == NEWEST
    assert result.accuracy["n"] == 50 and result.accuracy["max_abs_error"] < MAX_ERROR
    assert result.provenance["proved_outputs"].count(",") == 9
    assert 10_000 < result.sizes["proof_raw_bytes"] < result.sizes["proof_bytes"] < 60_000
    assert 0 < result.sizes["vk_raw_bytes"] < result.sizes["vk_bytes"]
    assert result.stages["prove"].peak_rss_bytes > 100 << 20
    peaks = result.stages["prove"].peak_rss_samples  # the one repeat's own peak, read inside node
    assert len(peaks) == 1 and 100 << 20 < peaks[0] <= result.stages["prove"].peak_rss_bytes, peaks
    assert result.provenance["verify_via"] == "verify(proof, vk)"
    # the stage checked, in its own process, that the proof claiming another first output is rejected (a
    # second verify process for that would pay the first verification's tens of seconds again)
    assert result.provenance["verify_rejects"] == "the same proof claiming another first output"


O1JS_ONLY = """\
version: 1
frameworks:
  - name: o1js
    adapter: o1js
    proof_system: Kimchi
    setup: transparent
    model_format: ZkProgram
    history: {kind: releases, package: {registry: npm, name: o1js}}
    build: {kind: npm, requirements: ["o1js@{version}"]}
"""


def test_the_page_calls_o1js_setup_its_compile(tmp_path):
    from tracker import records
    from tracker.fsutil import atomic_write_json
    from tracker.layout import Layout
    from tracker.publish.site import write_site
    from tracker.records import ModelResult, StageResult

    (tmp_path / "frameworks.yaml").write_text(O1JS_ONLY)
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    sha = "a" * 40
    rec = ModelResult("o1js", sha, "linear", "default")
    rec.add(StageResult("setup", samples_s=[36.8], cpu_s=[50.0]))
    records.save(FrameworkStore(layout, "o1js").records, rec)
    atomic_write_json(layout.results / "o1js" / "revisions.json", {"version": 1, "revisions": {
        sha: {"label": "2.15.0", "date": "2025-11-01T00:00:00+00:00", "subject": "o1js 2.15.0"}}})
    atomic_write_json(layout.results / "o1js" / "status.json", {"status": "ok", "reason": "", "revisions": []})
    html = write_site(load_config(tmp_path / "frameworks.yaml"), layout).read_text()
    assert "<dt>setup time</dt><dd>its compile (circuit and keys)</dd>" in html
    assert "o1js&#39;s compile (circuit and keys); setup time: 36.8" in html or \
        "o1js's compile (circuit and keys); setup time: 36.8" in html
