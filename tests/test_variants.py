"""Variants: one framework under several settings, each its own series; limits hit are results, not crashes."""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import ROOT
from tracker.cli import main
from tracker.adapters import load_config

pytestmark = pytest.mark.slow

CONFIG = textwrap.dedent("""\
    version: 1
    frameworks:
      - name: ezkl
        adapter: ezkl
        proof_system: Halo2 (KZG)
        model_format: ONNX
        history:
          kind: releases
          package: {registry: pypi, name: ezkl}
        build: {kind: pip, requirements: ["ezkl=={version}", "onnx"]}
        variants:
          - name: resources
            settings: {calibration_target: resources}
          - name: accuracy
            settings: {calibration_target: accuracy}
          - name: capped
            settings: {calibration_target: accuracy}
            limits: {memory_mb: 120}
    """)


def test_variants_are_series_and_a_memory_cap_is_a_result(tmp_path, tracker_cache, monkeypatch, capsys):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    config = tmp_path / "frameworks.yaml"
    config.write_text(CONFIG)
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    assert load_config(config).framework("ezkl").variant("capped").limits.memory_mb == 120
    status = main(["--config", str(config), "--cache", str(tracker_cache), "run", "-f", "ezkl",
                   "-r", "23.0.5", "-m", "mlp", "--repeats", "1", "--eval-count", "100"])
    assert status == 1  # one variant failed; the run went on and published
    records = {p.stem.split("--")[1]: json.loads(p.read_text())
               for p in (tmp_path / "results" / "ezkl" / "records").rglob("mlp--*.json")}
    assert set(records) == {"resources", "accuracy", "capped"}
    resources, accuracy, capped = records["resources"], records["accuracy"], records["capped"]
    assert resources["status"] == accuracy["status"] == "ok"
    assert accuracy["accuracy"]["max_abs_error"] <= resources["accuracy"]["max_abs_error"]
    # ezkl 23.0.5 calibrates mlp to the same circuit for both targets: neither the keys nor the witnesses
    # are made twice, and the keys linked from the other variant prove and verify
    assert accuracy["stages"]["accuracy"]["reason"].startswith("reused ")
    assert accuracy["accuracy"] == resources["accuracy"]
    assert accuracy["stages"]["setup"]["reason"].startswith("reused ")
    assert accuracy["stages"]["setup"]["samples_s"] == []
    assert accuracy["sizes"]["pk_bytes"] == resources["sizes"]["pk_bytes"] > 0
    assert accuracy["stages"]["verify"]["status"] == "ok" and accuracy["stages"]["prove"]["samples_s"]
    # the same circuit, keys and input: one proof measured in this run stands for both variants, said so
    for stage in ("prove", "verify"):
        assert accuracy["stages"][stage]["samples_s"] == resources["stages"][stage]["samples_s"]
        assert accuracy["stages"][stage]["reason"].startswith("measured once for [resources]")
    assert accuracy["sizes"]["proof_bytes"] == resources["sizes"]["proof_bytes"] > 0
    assert capped["status"] == "out_of_memory"
    oom = next(s for s in capped["stages"].values() if s["status"] == "out_of_memory")
    assert oom["limit"] == "120 MiB" and "120 MiB" in capped["reason"]
    # the settings each variant actually ran with are kept beside its figures
    assert resources["settings"]["calibration_target"] == "resources"
    assert {"used_input_scale", "used_param_scale", "used_logrows"} <= set(accuracy["settings"])

    # each variant is its own series in asv: one graph line per variant, the capped one has no point
    index = json.loads((tmp_path / "html" / "ezkl" / "index.json").read_text())
    prove = index["benchmarks"]["benchmarks.ProveTime.track_prove_time"]
    assert prove["param_names"] == ["model", "variant"]
    variants = [v.strip("'") for v in prove["params"][1]]
    assert sorted(variants) == ["accuracy", "capped", "resources"]
    graph = next(p for p in (tmp_path / "html" / "ezkl" / "graphs").rglob("benchmarks.ProveTime.track_prove_time.json")
                 if "summary" not in p.parts)
    [[_, values]] = json.loads(graph.read_text())
    by_variant = dict(zip(variants, values))
    assert by_variant["capped"] is None
    assert by_variant["resources"] > 0 and by_variant["accuracy"] > 0


def test_the_circuit_identity_ignores_what_ezkl_writes_in_no_fixed_order(tmp_path):
    from tracker.adapters.ezkl import circuit_identity

    def identity(name, settings):
        (tmp_path / name).write_text(json.dumps(settings))
        return circuit_identity(tmp_path / name)

    one = {"run_args": {"logrows": 15, "input_scale": 13}, "timestamp": 1,
           "required_range_checks": [[0, 16383], [-1, 1]], "model_input_scales": [13]}
    two = {"model_input_scales": [13], "required_range_checks": [[-1, 1], [0, 16383]], "timestamp": 2,
           "run_args": {"input_scale": 13, "logrows": 15}}
    assert identity("one.json", one) == identity("two.json", two)
    three = {**two, "run_args": {"input_scale": 13, "logrows": 16}}
    assert identity("three.json", three) != identity("one.json", one)
