"""Orion, ddkang/zkml and opML adapters: commands, parsers on recorded-format samples, status and `list`.

The samples under tests/samples/<framework>/ follow the output formats of the projects' own sources (each
file's header names the source file and function that prints each line); their numbers are made up.
"""
from __future__ import annotations

import dataclasses
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tracker.adapters import get_adapter, opml, orion, zkml
from tracker.adapters.base import Adapter, timed_stage
from tracker.adapters.readiness import readiness
from tracker.build.cargo import cargo_command, compiler_errors, failure_reason
from tracker.cli import main
from tracker.adapters import load_config
from tracker.measure import Limits
from tracker.models.zoo import get_model, layer_params
from tracker.records import ModelResult
from tracker.types import Build, BuildRecipe, Framework, HistorySpec, ModelJob, Variant

SAMPLES = Path(__file__).parent / "samples"


def sample(framework: str, name: str) -> str:
    return (SAMPLES / framework / name).read_text()


# --- zkml ----------------------------------------------------------------------------------------------

def test_zkml_commands():
    fw = load_config(Path(__file__).parents[1] / "frameworks.yaml").framework("zkml")
    assert cargo_command(fw.build.features, fw.build.binaries, fw.build.rust_toolchain) == \
        ["cargo", "+nightly", "build", "--release", "--bin", "time_circuit"]
    assert zkml.venv_commands(Path("/b"))[-1][:4] == ["/b/venv/bin/python", "-m", "pip", "install"]
    cmd = zkml.convert_command(Path("/b/venv/bin/python"), Path("/src"), Path("/w"), zkml.DEFAULTS)
    assert "/src/python/converter.py --model /w/model.tflite --model_output /w/model.msgpack" in cmd
    assert "--scale_factor 512 --k 17 --num_cols 10 --num_randoms 1024" in cmd
    assert "/src/python/input_converter.py --model_config /w/model.msgpack --inputs /w/input.npy" in cmd
    assert zkml.time_circuit_command(Path("/b"), Path("/w/m"), Path("/w/i")) == "/b/bin/time_circuit /w/m /w/i kzg"


@pytest.mark.parametrize("text,seconds", [("1.5s", 1.5), ("612.094827ms", 0.612094827), ("80.114µs", 80.114e-6),
                                          ("950ns", 950e-9)])
def test_zkml_rust_durations(text, seconds):
    assert zkml.parse_duration(text) == pytest.approx(seconds)


def test_zkml_time_circuit_output():
    runs = zkml.parse_time_circuit(sample("zkml", "time_circuit.log"))
    assert len(runs) == 2
    assert runs[0]["prove_s"] == pytest.approx(3.920731866)
    assert runs[1]["params_s"] == pytest.approx(80.114e-6)
    assert runs[0]["proof_bytes"] == 5920 and runs[0]["pk_bytes"] == 84214504 and runs[0]["vk_bytes"] == 1928
    outputs = [zkml.field_to_signed(v) for v in runs[0]["public_vals"]]
    assert outputs[:3] == [-1432, 210, 388]


def test_zkml_runs_become_stages():
    from tracker.records import ModelResult, StageResult

    result = ModelResult("zkml", "r", "mlp", "default")
    result.add(StageResult("time_circuit", samples_s=[7.0, 6.9], peak_rss_bytes=2 << 30))
    zkml.record_runs(result, zkml.parse_time_circuit(sample("zkml", "time_circuit.log")), zkml.DEFAULTS)
    assert result.stages["prove"].samples_s == pytest.approx([3.920731866, 3.874590231])
    assert result.stages["setup"].samples_s[0] == pytest.approx(0.612094827 + 1.870346112)
    assert result.stages["prove"].peak_rss_bytes == 2 << 30
    assert result.circuit == {"logrows": 17, "public_values": 10}
    assert result.sizes["proof_bytes"] == 5920 and result.status == "ok"


def test_zkml_build_failure_names_the_unreachable_registry():
    log = sample("zkml", "cargo_offline.log")
    reason = failure_reason(compiler_errors(log), "exit status 101", log)
    assert reason.startswith("cargo: dependencies unreachable") and "(index.crates.io did not resolve)" in reason


def test_zkml_flatten_order_for_tflite():
    model = get_model("cnn")
    arrays = {"w4": np.arange(12 * 10).reshape(12, 10)}
    zkml._permute_after_flatten(model, [], arrays)
    # after conv 3x3 and pool, (3 channels, 2, 2): HWC row 1 is CHW row 4 (channel 1, pixel 0)
    assert arrays["w4"][1, 0] == 4 * 10


# --- orion ---------------------------------------------------------------------------------------------

def test_orion_commands_and_manifest():
    assert orion.execute_command(True) == "scarb execute --no-build --print-program-output --print-resource-usage"
    assert orion.execute_command(False) == "scarb cairo-run --no-build"
    assert orion.trace_command() == "scarb execute --no-build --target bootloader --output standard"
    assert orion.prove_command("prove", 3) == "scarb prove --execution-id 3"
    assert orion.prove_command("verify", 3) == "scarb verify --execution-id 3"
    text = orion.manifest(Path("/src/orion"), (2, 11, 4), executable=True)
    assert 'orion = { path = "/src/orion" }' in text and 'cairo_execute = "2.11.4"' in text
    assert "[[target.executable]]" in text and "enable-gas = false" in text
    assert "executable" not in orion.manifest(Path("/o"), (2, 6, 3), executable=False)


def test_orion_versions():
    # the format of `scarb --version` (Scarb's own long version: scarb, cairo and sierra lines)
    assert orion.parse_scarb_version(sample("orion", "scarb_version.txt")) == ((2, 11, 4), (2, 11, 4))
    scarb, _ = orion.parse_scarb_version(sample("orion", "scarb_version_2.6.4.txt"))
    assert scarb == (2, 6, 4) and scarb < orion.PROVE_SINCE


def test_orion_cairo_source():
    src = orion.cairo_source(layer_params(get_model("mlp")), np.full(16, 0.5), executable=True)
    assert "fn w0() -> Tensor<FP16x16>" in src and "array![8, 16].span()" in src  # weights are [out, in]
    assert "NNTrait::linear(x, w0(), b0())" in src and "NNTrait::relu(@x)" in src
    assert "#[executable]" in src and "fp(32768, false)" in src  # 0.5 in FP16x16
    with pytest.raises(orion.Unsupported, match="conv2d"):
        orion.cairo_source(layer_params(get_model("cnn")), np.zeros(36), executable=True)


def test_orion_execute_outputs():
    runs = orion.parse_execute(sample("orion", "scarb_execute.log"))
    assert len(runs) == 2 and runs[0]["steps"] == 402118
    values = orion.decode_outputs(runs[0]["outputs"], 10)
    assert values[0] == pytest.approx(3 + 1200 / 65536) and values[1] == pytest.approx(-40211 / 65536)
    old = orion.parse_execute(sample("orion", "scarb_cairo_run.log"))
    assert orion.decode_outputs(old[0]["outputs"], 10) == pytest.approx(values)


def test_orion_execution_id_and_proof_lines():
    assert orion.parse_execution_id(sample("orion", "scarb_trace.log")) == 3
    assert "Verified proof successfully" in sample("orion", "scarb_prove.log")


# --- opml ----------------------------------------------------------------------------------------------

def test_opml_commands():
    files = {"program": Path("/src/p.bin"), "model": Path("/w/m.bin"), "data": Path("/w/i.bin")}
    assert opml.build_commands()[-1] == ["make", "build"]
    assert opml.mlvm_command(Path("/src"), Path("/w/c"), files, golden=True) == \
        "/src/mlvm/mlvm --outputGolden --basedir=/w/c --program=/src/p.bin --model=/w/m.bin --data=/w/i.bin " \
        "--mipsVMCompatible"
    script = opml.challenge_script(Path("/src"), {"defender": Path("/w/d"), "challenger": Path("/w/f")}, files)
    assert "npx hardhat run --network localhost $DEPLOY" in script
    assert "OUTPUTFAULT=1 /src/mlvm/mlvm --basedir=/w/f" in script
    assert script.count("scripts/respond.js") == 2 and "for i in 1 2 3" in script and "25; do" in script
    assert script.rstrip().endswith("BASEDIR=/w/d npx hardhat run --network localhost scripts/assert.js")


def test_opml_deploys_into_the_jobs_own_dir(tmp_path):
    """opML's deploy.js writes a fixed /tmp/cannon: the script runs a copy that writes into the job's dir."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "deploy.js").write_text('fs.mkdirSync("/tmp/cannon")\n'
                                                   'fs.writeFileSync("/tmp/cannon/deployed.json", x)\n')
    job_dir = tmp_path / "job" / "cannon"
    script = opml.challenge_script(Path("/src"), {"defender": job_dir, "challenger": tmp_path / "f"},
                                   {"program": Path("/p"), "model": Path("/m"), "data": Path("/d")})
    copy_line = next(line for line in script.splitlines() if line.startswith("DEPLOY="))
    done = subprocess.run(["bash", "-c", copy_line + "; cat $DEPLOY"], cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    assert done.stdout == f'fs.mkdirSync("{job_dir}")\nfs.writeFileSync("{job_dir}/deployed.json", x)\n'
    assert "/tmp/cannon" not in script.replace(copy_line, "")


def test_opml_ggml_model_layout():
    data = opml.ggml_model(layer_params(get_model("784_56_10")))
    magic, n_dims, d0, d1 = struct.unpack(">iiii", data[:16])
    assert (magic, n_dims, d0, d1) == (0x67676D6C, 2, 784, 56)  # fc1: n_input, n_hidden (mips_mnist.go)
    w = layer_params(get_model("784_56_10"))[0][1]
    first = struct.unpack(">f", data[16:20])[0]
    assert first == pytest.approx(w[0, 0] / 255.0)  # torch [out, in] order, pixels/255 folded in
    with pytest.raises(opml.Unsupported, match="784 input bytes"):
        opml.ggml_model(layer_params(get_model("mlp")))


def test_opml_execution_and_challenge_output():
    run = opml.parse_mlvm(sample("opml", "mlvm_execute.log"))
    assert run["steps"] == 18735592 and run["predicted"] == 7 and run["final_root"].startswith("0x5c6b")
    game = opml.parse_challenge(sample("opml", "challenge.log"))
    assert game == {"rounds": 25, "search_done": True, "challenge_id": 0, "verdict": "ChallengerLoses"}


def test_opml_build_failure_reason():
    log = "go: downloading github.com/fatih/color v1.13.0\n" \
          "mlvm/main.go:3:8: github.com/fatih/color@v1.13.0: Get \"https://proxy.golang.org/...\": " \
          "dial tcp: lookup proxy.golang.org: no such host\n"
    assert opml.build_failure_reason(log, "exit status 2").startswith("Go modules unreachable")


# --- status and list -----------------------------------------------------------------------------------

def test_status_and_list_name_each_missing_toolchain(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    config = Path(__file__).parents[1] / "frameworks.yaml"
    shipped = load_config(config)
    assert "missing toolchain scarb" in readiness(shipped.framework("orion")).reason
    assert "install.sh | sh" in readiness(shipped.framework("orion")).reason
    assert "missing toolchain cargo" in readiness(shipped.framework("zkml")).reason
    assert "missing toolchain go" in readiness(shipped.framework("opml")).reason
    assert main(["--config", str(config), "--results", str(tmp_path / "r"), "--html", str(tmp_path / "h"),
                 "--cache", str(tmp_path / "c"), "list", "-f", "orion", "-f", "zkml", "-f", "opml"]) == 0
    out = capsys.readouterr().out
    for name, line in (("orion", "missing toolchain scarb (scarb not on PATH): install Scarb: curl"),
                       ("zkml", "missing toolchain cargo (cargo not on PATH): install Rust: a distribution's"),
                       ("opml", "missing toolchain go (go not on PATH): install Go 1.19 or newer")):
        assert f"{name} " in out and line in out
    assert out.count("unavailable") == 3


# --- the template every adapter shares ---------------------------------------------------------------

class _FailsAfterOneStage(Adapter):
    """A pipeline whose tracker side raises after its first stage ran (a real child)."""

    name = "fails-after-one-stage"
    stages = ("first", "second", "third")
    size_files = {"proof_bytes": "proof"}

    def pipeline(self, job: ModelJob, result: ModelResult, files: dict) -> None:
        files["proof"] = job.workdir / "proof.bin"
        files["proof"].write_bytes(b"x" * 7)
        if timed_stage(job, result, "first", "true", 2) is None:
            return
        raise KeyError("no such file in the build")


def _job(tmp_path: Path) -> ModelJob:
    framework = Framework("t", "command", "none", "none", "onnx", None, HistorySpec("releases"), BuildRecipe("none"),
                          (Variant("default"),), Limits())
    workdir = tmp_path / "work"
    workdir.mkdir()
    return ModelJob(framework, Build("t", "r1", tmp_path), get_model("mlp"), Variant("default"), workdir, tmp_path)


def test_template_keeps_a_tracker_failure_as_data_with_its_traceback(tmp_path):
    job = _job(tmp_path)
    result = _FailsAfterOneStage().prove(job)
    reason = "tracker: KeyError: 'no such file in the build'"
    assert (result.status, result.reason) == ("error", reason)
    assert result.stages["first"].status == "ok" and len(result.stages["first"].samples_s) == 2
    for stage in ("second", "third"):
        assert (result.stages[stage].status, result.stages[stage].reason) == ("skipped", "not run: " + reason)
    assert result.sizes == {"proof_bytes": 7}
    log = (job.workdir / "logs" / "tracker.log").read_text()
    assert log.startswith("Traceback (most recent call last):")
    assert 'raise KeyError("no such file in the build")' in log


def test_command_adapter_on_the_template(tmp_path):
    job = _job(tmp_path)
    fw = dataclasses.replace(job.framework, stages=(("prove", "printf abc > {proof}"),))
    result = get_adapter("command").prove(dataclasses.replace(job, framework=fw))
    assert result.status == "ok", result.reason
    assert list(result.stages) == ["prove"] and len(result.stages["prove"].samples_s) == job.repeats
    assert result.sizes == {"proof_bytes": 3}
    fw = dataclasses.replace(fw, stages=(("verify", "true"),))
    result = get_adapter("command").prove(dataclasses.replace(job, framework=fw))
    assert (result.status, result.reason) == ("error", "a 'command' framework needs stages.prove in frameworks.yaml")
    assert result.stages == {}
