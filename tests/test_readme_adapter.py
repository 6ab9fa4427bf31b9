"""The adapter the README's "Add a framework" shows is a working adapter on the real base: its stages run
as measured children, its sizes are recorded, its failures are data, and its settings are checked.

A `myprover` shell script on PATH stands in for a prover's command line.
"""
from __future__ import annotations

import dataclasses
import os
import re
import stat
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracker import adapters
from tracker.adapters.base import Adapter, timed_stage
from tracker.adapters.readiness import readiness
from tracker.measure import Limits
from tracker.models.zoo import export_onnx, get_model
from tracker.records import ModelResult
from tracker.types import Build, BuildRecipe, Framework, HistorySpec, ModelJob, Toolchain, Variant

PROVER = """#!/bin/sh
# myprover STAGE -k K WORKDIR: a prover's command line, as the README's adapter calls it
case "$1" in
  setup)  printf 'vk-of-k-%s' "$3" > "$4/vk" ;;
  prove)  [ -f "$4/model.onnx" ] || exit 3; printf '%0128d' 0 > "$4/proof" ;;
  verify) [ "$(wc -c < "$4/proof")" -eq 128 ] || { echo "bad proof" >&2; exit 1; } ;;
esac
"""


def readme_adapter() -> type[Adapter]:
    """The class in the README's python block, defined with the names the README says it uses."""
    section = (ROOT / "README.md").read_text().split("## Add a framework", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    names = {"Adapter": Adapter, "Toolchain": Toolchain, "ModelJob": ModelJob, "ModelResult": ModelResult,
             "export_onnx": export_onnx, "timed_stage": timed_stage}
    exec(code, names)  # noqa: S102 - the project's own README
    return names["MyProverAdapter"]


@pytest.fixture
def prover_on_path(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "myprover").write_text(PROVER)
    (bin_dir / "myprover").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "myprover"


def _job(tmp_path: Path, settings=()) -> ModelJob:
    variant = Variant("default", settings)
    fw = Framework("mine", "myprover", "none", "none", "onnx", None, HistorySpec("releases"), BuildRecipe("none"),
                   (variant,), Limits())
    (tmp_path / "work").mkdir(exist_ok=True)
    return ModelJob(fw, Build("mine", "r1", tmp_path), get_model("linear"), variant, tmp_path / "work", tmp_path,
                    repeats=2)


def test_the_readme_adapter_proves_and_records_sizes(tmp_path, prover_on_path):
    result = readme_adapter()().prove(_job(tmp_path, (("k", 12),)))
    assert result.status == "ok", result.reason
    assert list(result.stages) == ["setup", "prove", "verify"]
    assert [len(result.stages[s].samples_s) for s in result.stages] == [1, 2, 2]
    assert result.sizes == {"proof_bytes": 128, "vk_bytes": len("vk-of-k-12")}


def test_a_failing_stage_of_the_readme_adapter_is_data(tmp_path, prover_on_path):
    prover_on_path.write_text(PROVER.replace("printf '%0128d' 0", "printf '%064d' 0"))
    result = readme_adapter()().prove(_job(tmp_path))
    assert (result.status, result.reason) == ("error", "verify: python exited with status 1: command exited with "
                                                        "status 1")
    assert [result.stages[s].status for s in ("setup", "prove", "verify")] == ["ok", "ok", "error"]
    assert "bad proof" in (tmp_path / "work" / "logs" / "verify.log").read_text()
    assert result.sizes == {"proof_bytes": 64, "vk_bytes": len("vk-of-k-17")}


def test_the_readme_adapter_is_registered_checked_and_asked_if_it_can_run(tmp_path, monkeypatch, prover_on_path):
    cls = readme_adapter()
    monkeypatch.setitem(adapters.ADAPTERS, cls.name, cls)
    assert adapters.check_settings("myprover", {"k": 14}) == {"k": 14}
    with pytest.raises(adapters.SettingError, match="^k: must be an integer, got 'big'$"):
        adapters.check_settings("myprover", {"k": "big"})
    fw = dataclasses.replace(_job(tmp_path).framework, adapter="myprover")
    assert readiness(fw).ready
    monkeypatch.setenv("PATH", "/nonexistent")
    assert readiness(fw).reason == ("missing toolchain myprover (myprover not on PATH): cargo install myprover")
