"""zkTorch: its ptau challenge file, its config, its output parsed (recorded from real runs), and a real
proof where a clone of zkTorch is at hand (ZKML_ZKTORCH_REPO=/path/to/zk-torch; CI has no GitHub)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tracker.adapters import ptau_challenge as pc
from tracker.adapters.zktorch import (
    DEFAULTS,
    OUTPUTS,
    parse_timings,
    record_runs,
    write_inputs,
    zktorch_failure,
)
from tracker.records import ModelResult, StageResult
from tracker.types import ModelJob

SAMPLES = Path(__file__).parent / "samples"
REPO = os.environ.get("ZKML_ZKTORCH_REPO")
NEWEST = "63b9c68"


def _affine_times(k: int, pt: tuple[int, int]) -> tuple[int, int]:
    """k * pt on y^2 = x^3 + 3 by the schoolbook affine formulas: an independent check of the fast code."""
    def add(a, b):
        if a is None:
            return b
        if a == b:
            lam = 3 * a[0] * a[0] * pow(2 * a[1], -1, pc.P) % pc.P
        else:
            lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, pc.P) % pc.P
        x = (lam * lam - a[0] - b[0]) % pc.P
        return x, (lam * (a[0] - x) - a[1]) % pc.P
    out = None
    for _ in range(k):
        out = add(out, pt)
    return out


def test_challenge_file_has_the_layout_zktorch_reads():
    data = b"".join(pc.challenge_chunks(7))
    n = 128
    assert len(data) == 64 + 64 * (2 * n - 1) + 128 * n + 2 * 64 * n + 128 == 49280  # zkTorch's own `challenge`
    g1 = [(int.from_bytes(data[64 + 64 * i:96 + 64 * i], "big"), int.from_bytes(data[96 + 64 * i:128 + 64 * i], "big"))
          for i in range(3)]
    assert g1[0] == (1, 2)
    assert g1[1] == _affine_times(pc.TAU, (1, 2)) and g1[2] == _affine_times(pc.TAU ** 2, (1, 2))
    g2_at = 64 + 64 * (2 * n - 1)
    assert data[g2_at:g2_at + 128] == pc.g2_bytes(pc.G2)
    assert pc.on_curve(pc.Fq2, pc.G2_B, pc.G2)


@pytest.mark.skipif(not REPO, reason="set ZKML_ZKTORCH_REPO to a clone of zkTorch to compare with its own file")
def test_challenge_file_starts_like_the_one_zktorch_ships():
    import subprocess

    shipped = subprocess.run(["git", "-C", REPO, "show", f"{NEWEST}:challenge"], capture_output=True,
                             check=True).stdout
    ours = b"".join(pc.challenge_chunks(7))
    g2_at = 64 + 64 * 255
    assert len(shipped) == len(ours)
    assert shipped[64:128] == ours[64:128] and shipped[g2_at:g2_at + 128] == ours[g2_at:g2_at + 128]


def zktorch_config(repo: str) -> str:
    """The zktorch entry of frameworks.yaml with `repo:` pointed at a local clone."""
    text = (Path(__file__).resolve().parents[1] / "frameworks.yaml").read_text()
    entry = text[text.index("  - name: zktorch"):]
    entry = entry.replace("repo: https://github.com/uiuc-kang-lab/zk-torch", f"repo: {repo}")
    return "version: 1\nframeworks:\n" + entry


@pytest.mark.skipif(not REPO, reason="needs a clone of zkTorch: set ZKML_ZKTORCH_REPO=/path/to/zk-torch "
                                     "(its first cargo build compiles arkworks, plonky2 and tract: 20-30 min)")
def test_newest_commit_builds_with_cargo_and_proves_a_tiny_net(tmp_path, tracker_cache):
    from tracker.adapters import get_adapter
    from tracker.build import ensure_build
    from tracker.adapters import load_config
    from tracker.history import open_history
    from tracker.models.zoo import get_model

    (tmp_path / "frameworks.yaml").write_text(zktorch_config(REPO))
    fw, cache = load_config(tmp_path / "frameworks.yaml").framework("zktorch"), tracker_cache
    history = open_history(fw, cache)
    revision = history.resolve(NEWEST)
    built = ensure_build(fw, revision, get_adapter("zktorch"), cache, checkout=history.checkout_fn(revision))
    assert built.build is not None, built.reason
    assert (built.build.path / "bin" / "zk_torch").is_file()
    job = ModelJob(fw, built.build, get_model("mlp"), fw.variants[0], tmp_path / "mlp", cache, repeats=2)
    result = get_adapter("zktorch").prove(job)
    assert result.status == "ok", result.reason
    for stage in ("witness", "setup", "prove", "verify"):
        assert len(result.stages[stage].samples_s) == 2 and all(s > 0 for s in result.stages[stage].samples_s)
        assert result.stages[stage].peak_rss_bytes == result.stages["zk_torch"].peak_rss_bytes > 0
    assert result.sizes["proof_bytes"] == (tmp_path / "mlp" / "final_proofs").stat().st_size > 0
    assert result.accuracy == {} and result.provenance["accuracy"].startswith("not measured")
    assert result.settings == DEFAULTS


def test_phase_times_are_read_from_zktorchs_timing_tree():
    runs = parse_timings((SAMPLES / "zktorch" / "linear-63b9c68.log").read_text())
    assert len(runs) == 1
    assert runs[0] == {"root": 15.6718, "run witness generation": 0.0003, "setup and encode models": 14.8791,
                       "encode inputs": 0.0009, "encode outputs": 0.0130, "prove": 0.1535, "verify": 0.0220}
    result = ModelResult("zktorch", "63b9c68", "linear", "default")
    result.add(StageResult("zk_torch", samples_s=[15.7], peak_rss_bytes=13_762_560))
    record_runs(result, runs + runs)
    assert result.stages["setup"].samples_s == [14.8791, 14.8791]
    assert result.stages["prove"].samples_s == pytest.approx([0.1674, 0.1674])  # encode inputs + outputs + prove
    assert result.stages["verify"].samples_s == [0.0220, 0.0220]
    assert result.stages["witness"].samples_s == [0.0003, 0.0003]
    assert {s.peak_rss_bytes for s in result.stages.values()} == {13_762_560}


def test_a_run_without_a_timing_tree_is_an_error():
    result = ModelResult("zktorch", "63b9c68", "linear", "default")
    result.add(StageResult("zk_torch", samples_s=[1.0]))
    record_runs(result, parse_timings("Cargo run was successful.\n"))
    assert result.status == "error" and "no complete timing tree" in result.reason


def test_zktorchs_own_failures_are_named():
    hardmax = zktorch_failure((SAMPLES / "zktorch" / "hardmax-63b9c68.log").read_text())
    assert hardmax == ("unsupported", "zkTorch panicked at src/onnx.rs:241:4: Unsupported onnx operation: Hardmax")
    cq = zktorch_failure((SAMPLES / "zktorch" / "cq-error-63b9c68.log").read_text())
    assert cq == ("error", "zkTorch: CQ Error: CQOutOfRangeError { input: -2167 } (a value outside the lookup range)")
    other = zktorch_failure("thread 'main' panicked at src/util/prover.rs:9:1:\nindex out of bounds\n")
    assert other == ("error", "zkTorch panicked at src/util/prover.rs:9:1: index out of bounds")
    assert zktorch_failure((SAMPLES / "zktorch" / "linear-63b9c68.log").read_text()) is None


def test_the_config_has_every_field_zktorch_reads(tmp_path):
    from types import SimpleNamespace

    from tracker.models.zoo import get_model

    job = SimpleNamespace(workdir=tmp_path, model=get_model("mlp"))
    config = yaml.safe_load(write_inputs(job, DEFAULTS, tmp_path / "challenge-11").read_text())
    # src/util/config.rs at 63b9c68: Config { task, onnx, ptau, sf, prover, verifier }
    assert config["onnx"] == {"model_path": "model.onnx", "input_path": "input.json"}
    assert config["ptau"] == {"ptau_path": str(tmp_path / "challenge-11"), "pow_len_log": 11, "loaded_pow_len_log": 11}
    assert config["sf"] == {"scale_factor_log": 2, "cq_range_log": 10, "cq_range_lower_log": 9}
    assert config["prover"] == {**OUTPUTS, "enable_layer_setup": True}
    assert set(config["verifier"]) == {"enc_model_path", "enc_input_path", "enc_output_path", "proof_path"}
    data = yaml.safe_load((tmp_path / "input.json").read_text())
    assert len(data["input_data"]) == 1 and len(data["input_data"][0]) == 16  # mlp: 4x4 digits, one image


@pytest.mark.parametrize("files, proof, unfolded", [
    ({"proofs": 700, "final_proofs": 300, "acc_proofs": 50}, 300, 700),  # 7bdd0bb on: final_proofs
    ({"proofs": 300}, 300, None),  # before: verify wrote the folded proof over `proofs`
])
def test_proof_size_is_the_folded_final_proof(tmp_path, files, proof, unfolded):
    from tracker.adapters.zktorch import record_sizes

    for name, size in files.items():
        (tmp_path / name).write_bytes(b"\0" * size)
    result = ModelResult("zktorch", "x", "linear", "default")
    record_sizes(result, tmp_path)
    assert result.sizes["proof_bytes"] == proof and result.sizes.get("proof_unfolded_bytes") == unfolded
    assert result.provenance["proof"].endswith("(final_proofs)" if unfolded else "(proofs)")


def test_list_shows_zktorchs_status(tmp_path, monkeypatch, capsys):
    from tracker.adapters.readiness import readiness
    from tracker.cli import main
    from tracker.adapters import load_config

    config = Path(__file__).parents[1] / "frameworks.yaml"
    args = ["--config", str(config), "--results", str(tmp_path / "r"), "--html", str(tmp_path / "h"),
            "--cache", str(tmp_path / "c"), "list", "-f", "zktorch"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert readiness(load_config(config).framework("zktorch")).reason.startswith(
        "missing toolchain cargo (cargo not on PATH)")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "zktorch " in out and "unavailable" in out and "missing toolchain cargo" in out
