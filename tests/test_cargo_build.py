"""The `cargo` build kind on a tiny crate in a throwaway git repo (no dependencies: it builds offline).

Three commits: two that compile, printing different numbers (both build into the one shared target
dir, so each build must keep its own binary), and one that does not compile.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synthetic import _git
from tests.test_build_limits import SLEEPER, framework_yaml, gone
from tracker.adapters import get_adapter
from tracker.build import build_dir, ensure_build
from tracker.build.cargo import compiler_errors, failure_reason, shared_target_dir
from tracker.adapters import load_config
from tracker.config import ConfigError
from tracker.history import open_history
from tracker.records import Status

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo on PATH")

CARGO_TOML = '[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n[features]\nloud = []\n'
MAIN = 'fn main() {{\n    let n: u32 = {value};\n    #[cfg(feature = "loud")]\n    println!("loud {{}}", n);\n}}\n'
BROKEN = 'fn main() {\n    let n: u32 = "seven";\n    println!("{}", n);\n}\n'


def make_crate(path: Path, name: str = "tiny") -> list[str]:
    """Three commits: prints 1, prints 2, does not compile (a string where a u32 goes)."""
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "Cargo.toml").write_text(CARGO_TOML.format(name=name))
    (path / "src").mkdir()
    shas = []
    for i, text in enumerate([MAIN.format(value=1), MAIN.format(value=2), BROKEN]):
        (path / "src" / "main.rs").write_text(text)
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", f"step {i}", when=1_700_000_000 + i)
        shas.append(_git(path, "rev-parse", "HEAD").strip())
    return shas


def config(repo: Path, extra: str = "") -> str:
    return framework_yaml("tiny", repo, '      kind: cargo\n      features: [loud]\n      binaries: [tiny]\n'
                                        f'      env: {{CARGO_NET_OFFLINE: "true", RUSTC_BOOTSTRAP: "1"}}{extra}')


@pytest.fixture()
def crate(tmp_path):
    shas = make_crate(tmp_path / "tiny")
    (tmp_path / "frameworks.yaml").write_text(config(tmp_path / "tiny"))
    fw = load_config(tmp_path / "frameworks.yaml").framework("tiny")
    cache = tmp_path / "cache"
    history = open_history(fw, cache)
    revisions = {r.sha: r for r in history.revisions()}
    return fw, cache, history, [revisions[s] for s in shas]


def build(fw, cache, history, revision):
    return ensure_build(fw, revision, get_adapter("command"), cache, checkout=history.checkout_fn(revision))


def test_two_commits_share_one_target_dir_and_keep_their_own_binaries(crate):
    fw, cache, history, (first, second, _) = crate
    one, two = build(fw, cache, history, first), build(fw, cache, history, second)
    assert one.build is not None and two.build is not None, (one.reason, two.reason)
    assert not one.cached and not two.cached
    outputs = [subprocess.run([b.build.path / "bin" / "tiny"], capture_output=True, text=True, check=True).stdout
               for b in (one, two)]
    assert outputs == ["loud 1\n", "loud 2\n"]  # the second build did not overwrite the first's binary
    facts = json.loads((two.build.path / "cargo.json").read_text())
    assert facts["command"] == "cargo build --release --features loud --bin tiny"
    assert facts["target_dir"] == str(shared_target_dir(two.build.path)) == str(cache / "builds" / "tiny" / "cargo-target")
    assert facts["seconds"] > 0 and facts["binaries"] == ["tiny"] and facts["toolchain"].startswith("rustc ")
    marker = json.loads((two.build.path / "build.json").read_text())
    assert marker["status"] == "ok" and marker["seconds"] >= facts["seconds"]


def test_a_commit_that_does_not_compile_keeps_the_compiler_errors(crate):
    fw, cache, history, (_, _, broken) = crate
    outcome = build(fw, cache, history, broken)
    assert outcome.build is None
    assert outcome.reason.startswith("build failed: cargo: error[E0308]: mismatched types at src/main.rs:2:18")
    marker = json.loads((build_dir(cache, fw, broken) / "build.json").read_text())
    assert marker["status"] == "failed" and marker["seconds"] > 0
    errors = marker["cargo"]["errors"]
    assert errors[0] == "error[E0308]: mismatched types"
    assert any('let n: u32 = "seven";' in line for line in errors)
    assert errors[-1].startswith("error: could not compile `tiny`")
    assert (build_dir(cache, fw, broken) / "cargo-errors.txt").read_text().splitlines() == errors
    assert not (build_dir(cache, fw, broken) / "bin").exists()


def test_a_second_build_of_the_same_commit_is_read_from_the_cache(crate, monkeypatch, tmp_path):
    fw, cache, history, (first, _, broken) = crate
    made, failed = build(fw, cache, history, first), build(fw, cache, history, broken)
    log = build_dir(cache, fw, first) / "build.log"
    before = log.read_text()
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # a cargo started now would not be found
    again, failed_again = build(fw, cache, history, first), build(fw, cache, history, broken)
    assert again.cached and again.build == made.build
    assert failed_again.cached and failed_again.reason == failed.reason
    assert log.read_text() == before


def test_the_recipe_is_part_of_the_cache_key(crate, tmp_path):
    fw, cache, history, (first, _, _) = crate
    (tmp_path / "other.yaml").write_text(config(tmp_path / "tiny").replace("features: [loud]", "features: []"))
    quiet = load_config(tmp_path / "other.yaml").framework("tiny")
    assert build_dir(cache, quiet, first) != build_dir(cache, fw, first)
    made = build(quiet, cache, history, first)
    assert made.build is not None and not made.cached
    assert subprocess.run([made.build.path / "bin" / "tiny"], capture_output=True, text=True).stdout == ""


@pytest.mark.parametrize("old, new, message", [
    ("      binaries: [tiny]\n", "", "f.yaml:9: frameworks[0].build: a 'cargo' build needs 'binaries'"),
    ("binaries: [tiny]", "binaries: []", "f.yaml:12: frameworks[0].build.binaries: a 'cargo' build needs a "
                                          "non-empty list of binaries"),
    ("binaries: [tiny]", "binaries: [--all]", "f.yaml:12: frameworks[0].build.binaries[0]: '--all' is not valid"),
    ("kind: cargo", "kind: commands\n      commands: [make]", "frameworks[0].build.features: only a 'cargo' "
                                                              "build takes features"),
])
def test_bad_cargo_recipes_name_the_line_and_field(tmp_path, old, new, message):
    (tmp_path / "f.yaml").write_text(config(tmp_path).replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "f.yaml")
    assert message in str(info.value)


def test_error_lines_are_picked_from_cargo_output():
    log = """   Compiling tiny v0.1.0 (/src)
warning: unused variable: `x`
 --> src/lib.rs:1:5
error[E0425]: cannot find value `y` in this scope
 --> src/main.rs:3:13
  |
3 |     let z = y;
  |             ^ not found in this scope

error: could not compile `tiny` (bin "tiny") due to 1 previous error
"""
    errors = compiler_errors(log)
    assert errors == ["error[E0425]: cannot find value `y` in this scope", " --> src/main.rs:3:13", "  |",
                      "3 |     let z = y;", "  |             ^ not found in this scope",
                      'error: could not compile `tiny` (bin "tiny") due to 1 previous error']
    assert failure_reason(errors, "exit 101") == \
        "cargo: error[E0425]: cannot find value `y` in this scope at src/main.rs:3:13"
    assert failure_reason([], "exited with status 101") == "cargo: exited with status 101"


WRAPPER = """#!/bin/sh
# RUSTC_WRAPPER: passes every rustc call through, but the one that compiles the crate `tiny` is
# killed with SIGKILL while {flag} is missing (as the kernel's OOM killer would), or hangs with a
# setsid grandchild while {hang} exists
case "$*" in *"--crate-name tiny "*)
  if [ -e {hang} ]; then setsid {py} -c "{sleeper}" {grandchild} & sleep 600; fi
  if [ ! -e {flag} ]; then touch {flag}; kill -KILL $$; fi;;
esac
exec "$@"
"""


def wrapped(tmp_path: Path, extra: str = ""):
    """The crate, built through a RUSTC_WRAPPER that misbehaves as WRAPPER says."""
    shas = make_crate(tmp_path / "tiny")
    wrapper = tmp_path / "rustc-wrapper"
    wrapper.write_text(WRAPPER.format(flag=tmp_path / "killed-once", hang=tmp_path / "hang", py=sys.executable,
                                      sleeper=SLEEPER, grandchild=tmp_path / "grandchild"))
    wrapper.chmod(0o755)
    text = config(tmp_path / "tiny", extra).replace('RUSTC_BOOTSTRAP: "1"', f'RUSTC_BOOTSTRAP: "1", '
                                                                              f'RUSTC_WRAPPER: "{wrapper}"')
    (tmp_path / "frameworks.yaml").write_text(text)
    fw = load_config(tmp_path / "frameworks.yaml").framework("tiny")
    history = open_history(fw, tmp_path / "cache")
    revision = next(r for r in history.revisions() if r.sha == shas[0])
    return lambda: build(fw, tmp_path / "cache", history, revision)


def test_a_rustc_killed_under_cargo_is_no_compile_error_and_is_built_again(tmp_path):
    make = wrapped(tmp_path)
    first = make()
    assert first.build is None and first.status == Status.CRASHED and first.retry, first.reason
    assert first.reason.startswith("build killed from outside: cargo: rustc killed by signal SIGKILL")
    second = make()
    assert second.build is not None and not second.cached, second.reason
    assert make().cached


def test_a_cargo_build_past_its_timeout_is_stopped_with_its_setsid_grandchild(tmp_path):
    (tmp_path / "hang").touch()
    make = wrapped(tmp_path, "\n      limits: {timeout: 8}")
    outcome = make()
    assert outcome.status == Status.TIMEOUT and outcome.retry
    assert "over its 8 s limit (build.limits.timeout)" in outcome.reason
    assert gone(tmp_path / "grandchild")
    [written] = (tmp_path / "cache" / "builds" / "tiny").glob("*/build.json")
    assert json.loads(written.read_text())["status"] == "timeout"


TOOLCHAIN = "\n      rust_toolchain: "  # the line that gives a cargo recipe its rustup toolchain


def rustup_has(toolchain: str) -> bool:
    listing = subprocess.run(["rustup", "toolchain", "list"], capture_output=True, text=True) \
        if shutil.which("rustup") else None
    return bool(listing) and any(line.startswith(toolchain) for line in listing.stdout.splitlines())


@pytest.mark.skipif(not rustup_has("nightly"), reason="needs rustup with a nightly toolchain")
def test_a_rust_toolchain_builds_with_it_and_the_adapter_finishes_the_build(tmp_path, monkeypatch):
    """zkml's build: `cargo +nightly` through the cargo build kind, then its adapter's converter venv, whose
    packages cannot install here (pip told to use no index): the build fails with pip's reason, the
    binary cargo built kept."""
    shas = make_crate(tmp_path / "tc", name="time_circuit")
    text = config(tmp_path / "tc").replace("binaries: [tiny]", f"binaries: [time_circuit]{TOOLCHAIN}nightly")
    (tmp_path / "f.yaml").write_text(text.replace("adapter: command", "adapter: zkml"))
    fw = load_config(tmp_path / "f.yaml").framework("tiny")
    assert fw.build.rust_toolchain == "nightly"
    history = open_history(fw, tmp_path / "cache")
    revision = next(r for r in history.revisions() if r.sha == shas[0])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    outcome = ensure_build(fw, revision, get_adapter("zkml"), tmp_path / "cache",
                           checkout=history.checkout_fn(revision))
    where = build_dir(tmp_path / "cache", fw, revision)
    assert outcome.build is None and outcome.reason == ("build failed: the converter's Python packages "
                                                        "(tensorflow-cpu, tflite, msgpack) did not install from PyPI")
    facts = json.loads((where / "cargo.json").read_text())
    assert facts["command"] == "cargo +nightly build --release --features loud --bin time_circuit"
    assert "nightly" in facts["toolchain"], facts["toolchain"]
    ran = subprocess.run([where / "bin" / "time_circuit"], capture_output=True, text=True, check=True)
    assert ran.stdout == "loud 1\n"
    assert (where / "venv" / "bin" / "python").exists()


@pytest.mark.skipif(shutil.which("rustup") is None, reason="needs rustup (cargo +TOOLCHAIN is rustup's)")
def test_a_rust_toolchain_not_installed_is_said_in_one_line(crate, tmp_path):
    fw, cache, history, (first, _, _) = crate
    (tmp_path / "f.yaml").write_text(config(tmp_path / "tiny").replace("binaries: [tiny]",
                                                                       f"binaries: [tiny]{TOOLCHAIN}no-such-1"))
    missing = load_config(tmp_path / "f.yaml").framework("tiny")
    outcome = build(missing, cache, history, first)
    assert outcome.build is None and outcome.status == Status.FAILED and not outcome.retry
    assert outcome.reason == "build failed: cargo: rust toolchain no-such-1 is not installed: " \
                             "rustup toolchain install no-such-1"


def test_a_rust_toolchain_is_a_cargo_field_and_a_plain_name(tmp_path):
    (tmp_path / "f.yaml").write_text(config(tmp_path).replace("binaries: [tiny]", f"binaries: [tiny]{TOOLCHAIN}'+x'"))
    with pytest.raises(ConfigError, match=r"f.yaml:13: frameworks\[0\].build.rust_toolchain: '\+x' is not valid"):
        load_config(tmp_path / "f.yaml")
    (tmp_path / "g.yaml").write_text(config(tmp_path).replace("kind: cargo", "kind: commands\n      commands: [make]")
                                     .replace("      features: [loud]\n", "")
                                     .replace("binaries: [tiny]", "rust_toolchain: nightly"))
    with pytest.raises(ConfigError, match=r"build.rust_toolchain: only a 'cargo' build takes rust_toolchain"):
        load_config(tmp_path / "g.yaml")
