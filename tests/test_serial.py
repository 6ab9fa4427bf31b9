"""tracker.serial: every framework of the repo's frameworks.yaml and real builds go to JSON and come back equal,
in the shapes the tracker has always written; data that does not fit says which field."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.synthetic import Step, make_repo
from tracker import records
from tracker.adapters import get_adapter
from tracker.build import ensure_build
from tracker.adapters import load_config
from tracker.fsutil import read_json
from tracker.history import open_history
from tracker.measure import Limits
from tracker.serial import SerialError, from_json, to_json
from tracker.types import Build, BuildRecipe, Framework, HistorySpec, Package, Selection, Variant

ROOT = Path(__file__).resolve().parents[1]


def through_json(obj):
    """As a file would carry it: to JSON text and back."""
    return json.loads(json.dumps(to_json(obj)))


@pytest.mark.parametrize("fw", load_config(ROOT / "frameworks.yaml").frameworks, ids=lambda fw: fw.name)
def test_every_framework_of_the_repo_comes_back_equal(fw):
    back = from_json(Framework, through_json(fw))
    assert back == fw
    assert isinstance(back.variants, tuple) and all(isinstance(v, Variant) for v in back.variants)
    assert all(isinstance(kv, tuple) for v in back.variants for kv in v.settings)
    assert isinstance(back.build.env, tuple) and all(isinstance(kv, tuple) for kv in back.build.env)
    assert isinstance(back.limits, Limits) and isinstance(back.history.select, Selection)
    # the asv side keys its records from the framework it read back: the same keys as the tracker's
    for name in fw.variant_names:
        assert records.record_key(back, name) == records.record_key(fw, name)


def test_framework_json_has_the_fields_in_order():
    ezkl = load_config(ROOT / "frameworks.yaml").framework("ezkl")
    data = through_json(ezkl)
    assert list(data) == ["name", "adapter", "proof_system", "setup_kind", "model_format", "repo", "history",
                          "build", "variants", "limits", "pros", "cons", "stages", "default_job", "line"]
    assert data["history"] == {"kind": "releases", "package": {"registry": "pypi", "name": "ezkl"},
                               "branch": "main", "select": {"latest": 2, "pinned": [], "range": None, "steps": None,
                                                            "nightly_max": 5}}
    assert data["variants"][0] == {"name": "resources", "settings": [["calibration_target", "resources"]],
                                   "limits": None}
    assert data["limits"] == {"timeout_s": 1800, "memory_mb": 16000, "log_mb": None}


def test_nested_optional_dataclasses_and_variant_limits():
    fw = Framework(name="x", adapter="command", proof_system="p", setup_kind="none", model_format="ONNX", repo=None,
                   history=HistorySpec("releases", Package("npm", "pkg"), select=Selection(pinned=("1.0", "2.0"))),
                   build=BuildRecipe("none", env=(("A", "1"), ("B", "2"))),
                   variants=(Variant("a", (("n", 3), ("f", 0.5), ("s", "t")), Limits(60.0, 512)), Variant("b")),
                   limits=Limits(), stages=(("prove", "true"),))
    assert from_json(Framework, through_json(fw)) == fw


def test_a_figure_written_as_an_integer_reads_back_as_one():
    """A limit of 1800 from YAML must not come back 1800.0: record keys hash its JSON text."""
    assert from_json(Limits, {"timeout_s": 1800, "memory_mb": None}).timeout_s.__class__ is int


def synth_framework(tmp_path: Path) -> Framework:
    repo = tmp_path / "repo"
    make_repo(repo, [Step()])
    config = tmp_path / "frameworks.yaml"
    config.write_text(textwrap.dedent(f"""\
        version: 1
        frameworks:
          - name: synth
            adapter: command
            proof_system: none (test prover)
            model_format: ONNX
            repo: {repo}
            history: {{kind: commits, branch: main}}
            build:
              kind: commands
              commands: ["test -f prover.py"]
              env: {{RUSTC_BOOTSTRAP: "1", LANG: C}}
            stages:
              prove: "python3 {{src}}/prover.py prove {{workdir}}"
        """))
    return load_config(config).framework("synth")


def build_newest(fw: Framework, cache: Path):
    """The framework's newest commit built for real (or from the build cache): (revision, BuildOutcome)."""
    history = open_history(fw, cache)
    revision = history.selectable()[-1]
    return revision, ensure_build(fw, revision, get_adapter(fw.adapter), cache, checkout=history.checkout_fn(revision))


def test_a_real_build_comes_back_from_build_json_in_the_shape_it_always_had(tmp_path):
    fw = synth_framework(tmp_path)
    revision, made = build_newest(fw, tmp_path / "cache")
    assert made.build is not None and not made.cached
    where = made.build.path
    assert read_json(where / "build.json")["build"] == {
        "framework": "synth", "revision": revision.sha, "path": str(where), "python": None, "node_prefix": None,
        "source": str(where / "src"), "version": None, "env": [["RUSTC_BOOTSTRAP", "1"], ["LANG", "C"]]}
    _, again = build_newest(fw, tmp_path / "cache")
    assert again.cached and again.build == made.build
    assert isinstance(again.build.source, Path) and again.build.env == (("RUSTC_BOOTSTRAP", "1"), ("LANG", "C"))


def test_a_build_json_whose_build_does_not_read_is_made_again(tmp_path):
    fw = synth_framework(tmp_path)
    _, made = build_newest(fw, tmp_path / "cache")
    marker = made.build.path / "build.json"
    data = read_json(marker)
    data["build"]["env"] = "RUSTC_BOOTSTRAP=1"
    marker.write_text(json.dumps(data))
    _, again = build_newest(fw, tmp_path / "cache")
    assert not again.cached and again.build == made.build
    assert read_json(marker)["build"]["env"] == [["RUSTC_BOOTSTRAP", "1"], ["LANG", "C"]]


def test_every_path_of_a_build_comes_back_a_path():
    build = Build("ezkl", "a" * 40, Path("/c/b"), python=Path("/c/b/venv/bin/python"), node_prefix=Path("/c/n"),
                  source=Path("/c/b/src"), version="23.0.5", env=(("HOME", "/h"),))
    back = from_json(Build, through_json(build))
    assert back == build and isinstance(back.node_prefix, Path)


@pytest.mark.parametrize("data, message", [
    ({"framework": "f", "revision": "r", "path": "/p", "env": [["A"]]}, "env[0]: expected 2 items, got 1"),
    ({"framework": "f", "revision": "r", "path": "/p", "env": "A=1"}, "env: expected a list, got str"),
    ({"framework": "f", "revision": "r", "path": 3}, "path: expected a path (a string), got int"),
    ({"framework": "f", "revision": "r", "path": "/p", "extra": 1}, "Build has no field 'extra'"),
    ({"framework": "f", "path": "/p"}, "Build needs 'revision'"),
    ([], "expected a mapping for Build, got list"),
])
def test_data_that_does_not_fit_names_the_field(data, message):
    with pytest.raises(SerialError) as caught:
        from_json(Build, data)
    assert str(caught.value) == message


def test_a_nested_field_is_named_by_its_path():
    data = through_json(load_config(ROOT / "frameworks.yaml").framework("circom"))
    data["variants"][0]["limits"] = {"timeout_s": 5, "memory_mb": None, "cpus": 2}
    with pytest.raises(SerialError, match=r"^variants\[0\]\.limits: Limits has no field 'cpus'$"):
        from_json(Framework, data)
