"""Whether a framework can run here: one answer for `list`, `run` and the site, hosts tried on local sockets.

No test reaches the internet: a host an adapter declares is pointed at a port on 127.0.0.1, either closed
or held by a listening socket of the test, and a proxy is a local server that answers CONNECT.
"""
from __future__ import annotations

import dataclasses
import http.server
import os
import shutil
import socket
import stat
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.synthetic import Step, make_repo
from tracker import net
from tracker.adapters.opml import OpmlAdapter
from tracker.adapters.readiness import READY, UNAVAILABLE, UNSUPPORTED, Readiness, missing_rust_toolchain, readiness
from tracker.cli import main
from tracker.adapters import load_config
from tracker.fsutil import read_json
from tracker.records import Status
from tracker.types import BuildRecipe, HistorySpec

CONFIG = """\
version: 1
frameworks:
  - name: opml
    adapter: opml
    proof_system: fraud proof
    model_format: ONNX
    repo: ./opml-clone
    history: {kind: commits}
    build: {kind: none, toolchains: [go, node, cmake, make]}
  - name: after
    adapter: command
    proof_system: none
    model_format: ONNX
    history: {kind: releases, package: {registry: npm, name: after}}
    build: {kind: none, toolchains: [no-such-toolchain-here]}
    stages: {prove: "true"}
"""


@pytest.fixture
def listening():
    """A port on 127.0.0.1 that accepts connections (the kernel completes them from the backlog)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tools(tmp_path, monkeypatch) -> Path:
    """opML's toolchains on PATH (scripts that do nothing; readiness only looks them up), no proxy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("go", "node", "cmake", "make"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return bin_dir


def _config(tmp_path: Path):
    (tmp_path / "frameworks.yaml").write_text(CONFIG)
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    return load_config(tmp_path / "frameworks.yaml")


def test_reach_opens_a_connection_or_says_why(listening, closed_port, tools):
    assert net.reach("127.0.0.1", listening, 5) is None
    with pytest.raises(net.NetError, match="^connection refused$"):
        net.reach("127.0.0.1", closed_port, 5)
    with pytest.raises(net.NetError, match="^host name not resolved$"):
        net.reach("no-such-host.invalid", 443, 5)


def test_reach_asks_the_environments_proxy_for_a_tunnel(monkeypatch, tools):
    asked = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_CONNECT(self):  # noqa: N802 (http.server's naming)
            asked.append(self.path)
            self.send_response(200 if self.path.startswith("git.example.invalid:") else 403)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.delenv("no_proxy", raising=False)
        assert net.reach("git.example.invalid", 443, 5) is None
        with pytest.raises(net.NetError, match=r"^unreachable \(OSError\)$"):
            net.reach("elsewhere.invalid", 443, 5)
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["git.example.invalid:443", "elsewhere.invalid:443"]


def test_a_host_the_build_needs_decides_between_ready_and_unavailable(tmp_path, listening, closed_port, tools,
                                                                       monkeypatch):
    fw = _config(tmp_path).framework("opml")
    monkeypatch.setattr(OpmlAdapter, "fetches_from", {f"127.0.0.1:{listening}": "git submodules"})
    assert readiness(fw) == Readiness(READY)
    monkeypatch.setattr(OpmlAdapter, "fetches_from", {f"127.0.0.1:{closed_port}": "git submodules unicorn and mlgo"})
    assert readiness(fw) == Readiness(UNAVAILABLE, f"its build needs 127.0.0.1:{closed_port} (git submodules unicorn "
                                                   "and mlgo), not reachable from here (connection refused)")


def test_toolchains_come_before_hosts_and_name_both_the_adapters_and_the_recipes(tmp_path, tools, monkeypatch,
                                                                                closed_port):
    config = _config(tmp_path)
    monkeypatch.setattr(OpmlAdapter, "fetches_from", {f"127.0.0.1:{closed_port}": "never tried"})
    (tools / "cmake").unlink()
    monkeypatch.setenv("PATH", str(tools))  # no cmake of the machine's either
    assert readiness(config.framework("opml")) == Readiness(
        UNAVAILABLE, "missing toolchain cmake (cmake not on PATH): apt-get install cmake (builds the unicorn MIPS "
                     "emulator)")
    assert readiness(config.framework("after")) == Readiness(
        UNAVAILABLE, "missing toolchain(s) for the build: no-such-toolchain-here (not on PATH)")
    monkeypatch.setattr(OpmlAdapter, "unsupported_reason", "not yet supported: test")
    assert readiness(config.framework("opml")) == Readiness(UNSUPPORTED, "not yet supported: test")


def test_a_rust_toolchain_is_asked_of_rustup(tmp_path, monkeypatch):
    """zkml's recipe names `rust_toolchain: nightly`: it is ready only where rustup lists a nightly."""
    zkml = load_config(ROOT / "frameworks.yaml").framework("zkml")
    rustup = tmp_path / "bin" / "rustup"
    rustup.parent.mkdir()
    monkeypatch.setenv("PATH", f"{rustup.parent}{os.pathsep}{os.environ['PATH']}")
    rustup.write_text("#!/bin/sh\necho stable-x86_64-unknown-linux-gnu '(default)'\n")
    rustup.chmod(stat.S_IRWXU)
    assert missing_rust_toolchain(zkml) == ("missing toolchain rust nightly (`rustup toolchain list` shows none): "
                                           "rustup toolchain install nightly")
    rustup.write_text("#!/bin/sh\necho stable-x86_64-unknown-linux-gnu\necho nightly-x86_64-unknown-linux-gnu\n")
    assert missing_rust_toolchain(zkml) is None
    assert missing_rust_toolchain(load_config(ROOT / "frameworks.yaml").framework("zktorch")) is None


def test_list_and_run_say_the_same_and_the_run_goes_on(tmp_path, tools, monkeypatch, closed_port, capsys):
    _config(tmp_path)
    monkeypatch.setattr(OpmlAdapter, "fetches_from", {f"127.0.0.1:{closed_port}": "git submodules unicorn and mlgo"})
    why = (f"its build needs 127.0.0.1:{closed_port} (git submodules unicorn and mlgo), not reachable from here "
           "(connection refused)")
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache")]
    assert main([*args, "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("opml ") and out[0].endswith(" unavailable") and out[1].strip() == why
    assert out[2].startswith("after ") and out[2].endswith(" unavailable")
    assert main([*args, "run"]) == 0
    out = capsys.readouterr().out
    assert f"opml: skipped: {why}\n" in out
    assert "after: skipped: missing toolchain(s) for the build: no-such-toolchain-here (not on PATH)\n" in out
    for name in ("opml", "after"):
        status = read_json(tmp_path / "results" / name / "status.json")
        assert status["status"] == "unavailable"
    assert read_json(tmp_path / "results" / "opml" / "status.json")["reason"] == why


def test_bisect_and_compare_refuse_a_framework_that_cannot_run_here_in_one_line(tmp_path, tools, capsys):
    _config(tmp_path)
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache")]
    why = "after cannot run here (unavailable): missing toolchain(s) for the build: no-such-toolchain-here (not on PATH)"
    assert main([*args, "bisect", "-f", "after", "-m", "linear", "--metric", "prove_time", "1.0.0", "2.0.0"]) == 2
    assert capsys.readouterr().out.splitlines()[0] == f"bisect: {why}"
    assert main([*args, "compare", "-f", "after", "1.0.0", "2.0.0"]) == 2
    out = capsys.readouterr()
    assert out.out == f"compare: {why}\n" and "Traceback" not in out.err
    for made in ("registry", "derived", "mirrors"):  # refused before any history was asked for
        assert not (tmp_path / "cache" / made).exists()


def test_a_commit_history_out_of_reach_without_a_mirror_is_said(tmp_path, tools, listening, closed_port, capsys):
    config = _config(tmp_path)
    cache = tmp_path / "cache"
    fw = dataclasses.replace(config.framework("after"), build=BuildRecipe("none"),
                             history=HistorySpec("commits"), repo=f"https://127.0.0.1:{closed_port}/x/after.git")
    assert readiness(fw) == Readiness(READY)  # without the cache, the history is not looked at
    assert readiness(fw, cache) == Readiness(UNAVAILABLE, (
        f"its history is cloned from {fw.repo}, not reachable from here (connection refused), and no mirror of it "
        f"is cached: give 'repo:' a local clone"))
    (cache / "mirrors" / "after.git").mkdir(parents=True)  # a mirror kept: a run goes on from it
    assert readiness(fw, cache) == Readiness(READY)
    shutil.rmtree(cache / "mirrors")
    assert readiness(dataclasses.replace(fw, repo=f"https://127.0.0.1:{listening}/x/after.git"), cache).ready
    clone = tmp_path / "a-local-clone"
    assert readiness(dataclasses.replace(fw, repo=str(clone)), cache) == Readiness(
        Status.FAILED, f"repo: {clone} does not exist (and no mirror of it is cached): give 'repo:' a git clone")
    make_repo(clone, [Step()])
    assert readiness(dataclasses.replace(fw, repo=str(clone)), cache).ready  # a local path is never dialled
