"""Faults from outside, provoked for real: hostile HTTP endpoints on 127.0.0.1 (an endless body, an answer
trickled a byte every 2 s, a redirect to another port), upstream refs that move (a tag named like the
followed branch, a branch deleted upstream, a changed `repo:`), releases whose tags lie off the branch,
commits dated before their parents, and the nightly workflow's results branch.
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.synthetic import START, Step, _git, add_commit, config_text, make_repo
from tracker.cli import main
from tracker.commands.regressions import EXIT_ALERT_FAILED, report
from tracker.adapters import load_config
from tracker.history import HistoryError, open_history, select
from tracker.history.git import GitError, ensure_mirror, git, tags_at
from tracker.history.registry import releases
from tracker.layout import Layout
from tracker.publish.offline import ASSETS, asset_path
from tracker.publish.site import collect
from tracker.report.regressions import Regression, post_webhook
from tracker.run.runner import Request, choose_revisions
from tracker.types import Package

ROOT = Path(__file__).resolve().parents[1]
SECRET = "http://127.0.0.1:{port}/hooks/SECRET-TOKEN"


# --- a hostile HTTP server ------------------------------------------------------------------------------

class Hostile(http.server.BaseHTTPRequestHandler):
    """Answers as `behaviour` says; records every request it gets (method, path, body)."""

    behaviour = "ok"
    target = ""
    payload = b""
    received: list

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append((self.command, self.path, self.rfile.read(length) if length else b""))
        try:
            getattr(self, f"_{self.behaviour}")()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what the test wants

    do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

    def _ok(self) -> None:
        self._head(200, {"Content-Length": "2"})
        self.wfile.write(b"ok")

    def _endless(self) -> None:
        """200, then a body that never ends (no length, no chunking: until the connection closes)."""
        self._head(200, {})
        block = b"x" * 65536
        while True:
            self.wfile.write(block)

    def _trickle(self) -> None:
        """200 and a long body, one byte every 2 s: each read gets something, so no per-read timeout fires."""
        self._head(200, {"Content-Length": "1000"})
        for _ in range(1000):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(2)

    def _json(self) -> None:
        self._head(200, {"Content-Length": str(len(self.payload)), "Content-Type": "application/json"})
        self.wfile.write(self.payload)

    def _redirect(self) -> None:
        self._head(301, {"Location": self.target, "Content-Length": "0"})

    def _head(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(behaviour: str, target: str = "") -> tuple[str, type]:
        handler = type("H", (Hostile,), {"behaviour": behaviour, "target": target, "received": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return SECRET.format(port=server.server_address[1]), handler
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _row() -> Regression:
    return Regression("ezkl", "mlp", "resources", "prove_time", "seconds", "b" * 40, "a" * 40, None, "1.2.0",
                      1.0, 2.0, "")


# --- webhook ---------------------------------------------------------------------------------------------

def test_an_endless_body_is_read_up_to_the_cap_and_the_alert_is_not_delivered(serve):
    url, handler = serve("endless")
    why = post_webhook(url, [_row()], timeout_s=30)
    assert why == "webhook not reached or answer refused: answer longer than 65,536 bytes: stopped reading there"
    assert [(m, p) for m, p, _ in handler.received] == [("POST", "/hooks/SECRET-TOKEN")]
    assert json.loads(handler.received[0][2])["text"].startswith("zkml-tracker: 1 regression(s)")


def test_an_endless_body_leaves_the_memory_of_a_real_process_flat(serve):
    """Before, a tracker posting to this endpoint passed 6.9 GB in 25 s; here the child's peak stays small.
    The peak is the child's own high-water mark (VmHWM): its ru_maxrss carries the peak of the process that
    started it over the exec (an xdist worker's 239 MB once failed this test)."""
    url, _ = serve("endless")
    code = ("import sys; from tracker.report.regressions import post_webhook, Regression;"
            "r = Regression('f','m','v','prove_time','s','b'*40,None,None,'x',1.0,2.0,'');"
            "print(post_webhook(sys.argv[1], [r], timeout_s=20));"
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) // 1024)")
    done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    why, peak_mb = done.stdout.splitlines()
    assert why == "webhook not reached or answer refused: answer longer than 65,536 bytes: stopped reading there"
    assert int(peak_mb) < 200


def test_a_trickling_endpoint_is_abandoned_at_the_total_deadline(serve):
    url, _ = serve("trickle")
    started = time.monotonic()
    why = post_webhook(url, [_row()], timeout_s=3.0)
    elapsed = time.monotonic() - started
    assert why == "webhook timed out (no complete answer within the total deadline of 3 s)"
    assert 3.0 <= elapsed < 4.5  # a per-read timeout of 3 s would never fire: a byte comes every 2 s


def test_a_trickling_endpoint_does_not_hold_the_process_past_its_deadline(serve):
    """In a real child process: the abandoned exchange does not keep the interpreter from exiting."""
    url, _ = serve("trickle")
    code = ("import sys; from tracker.report.regressions import post_webhook, Regression;"
            "r = Regression('f','m','v','prove_time','s','b'*40,None,None,'x',1.0,2.0,'');"
            "print(post_webhook(sys.argv[1], [r], timeout_s=2.5))")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "webhook timed out (no complete answer within the total deadline of 2.5 s)"
    assert time.monotonic() - started < 10


def test_a_redirect_is_not_a_delivery_and_its_target_gets_nothing(serve, capsys):
    target_url, target = serve("ok")
    url, first = serve("redirect", target=target_url)
    assert report([_row()], False, url) == EXIT_ALERT_FAILED
    out = capsys.readouterr()
    assert out.out.splitlines()[-1] == ("zkml-tracker: alert not delivered: webhook answered HTTP 301, a redirect: "
                                        "not followed, so not delivered")
    assert len(first.received) == 1 and first.received[0][0] == "POST"
    assert target.received == []
    assert "SECRET-TOKEN" not in out.out + out.err


def test_a_webhook_that_answers_is_still_delivered(serve, capsys):
    url, handler = serve("ok")
    assert post_webhook(url, [_row()]) is None
    assert len(handler.received) == 1


def test_a_proxy_named_in_the_environment_is_used_as_requests_did(serve, monkeypatch):
    url, proxy = serve("ok")
    monkeypatch.setenv("http_proxy", url.rsplit("/hooks", 1)[0])
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert post_webhook("http://hooks.invalid/SECRET-TOKEN", [_row()]) is None
    assert [(m, p) for m, p, _ in proxy.received] == [("POST", "http://hooks.invalid/SECRET-TOKEN")]


# --- registries ----------------------------------------------------------------------------------------

def _pypi_answer() -> dict:
    return {"releases": {"1.0.0": [{"filename": "pkg-1.0.0.tar.gz", "yanked": False,
                                    "upload_time_iso_8601": "2024-01-01T00:00:00Z"}]}}


@pytest.mark.parametrize("behaviour", ["endless", "trickle", "redirect"])
def test_a_hostile_registry_falls_back_to_the_cached_list(serve, tmp_path, monkeypatch, behaviour):
    """The registry query has a total deadline and a read cap; the cached release list is used, said so."""
    import tracker.history.registry as registry

    cache = tmp_path / "cache"
    registry_file = cache / "registry" / "pypi-pkg.json"
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text(json.dumps({"version": 1, "releases": [["1.0.0", "2024-01-01T00:00:00+00:00"]]}))
    monkeypatch.setattr(registry, "REGISTRY_DEADLINE_S", 2.0)
    monkeypatch.setattr(registry, "REGISTRY_MAX_BYTES", 1 << 20)
    url, handler = serve(behaviour)
    base = url.rsplit("/hooks", 1)[0]
    handler.target = f"{base}/pypi/pkg/json"  # a redirect to itself, for ever: more hops than the 3 allowed
    monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", f"{base}/pypi")
    started = time.monotonic()
    found, note = releases(Package("pypi", "pkg"), cache)
    assert time.monotonic() - started < 4
    assert [r.version for r in found] == ["1.0.0"]
    why = {"endless": "answer longer than 1,048,576 bytes: stopped reading there",
           "trickle": "no complete answer within the total deadline of 2 s",
           "redirect": "answered HTTP 301"}[behaviour]
    assert note == f"pypi unreachable ({why}); using the release list cached earlier"


# --- refs: a tag named like the branch, a branch gone upstream, a changed repo: -----------------------------

def _framework(tmp_path: Path, repo: Path, nightly_max: int = 50):
    path = tmp_path / "fw" / "frameworks.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(repo, nightly_max))
    return load_config(path).framework("synth")


def test_a_tag_named_like_the_followed_branch_is_not_followed(tmp_path):
    repo = tmp_path / "upstream"
    shas = make_repo(repo, [Step() for _ in range(4)])
    _git(repo, "tag", "main", shas[0])
    _git(repo, "tag", "-a", "-m", "annotated too", "refs/heads/main", shas[1])  # a tag named `refs/heads/main`
    fw, cache = _framework(tmp_path, repo), tmp_path / "cache"
    history = open_history(fw, cache)
    assert history.branch == "refs/heads/main"
    assert [r.sha for r in history.revisions()] == shas
    assert [r.position for r in history.revisions()] == [1, 2, 3, 4]
    new = add_commit(repo, Step())
    assert [r.sha for r in open_history(fw, cache).revisions()] == shas + [new]
    assert tags_at(history.repo_path) == {"main": shas[0], "refs/heads/main": shas[1]}


def test_a_branch_deleted_upstream_keeps_the_mirror_at_its_last_tip_and_says_so(tmp_path):
    repo = tmp_path / "upstream"
    shas = make_repo(repo, [Step() for _ in range(3)])
    fw, cache = _framework(tmp_path, repo), tmp_path / "cache"
    mirror = open_history(fw, cache).repo_path
    _git(repo, "branch", "-m", "main", "trunk")  # renamed upstream: `main` is gone
    for _ in range(2):  # and the next open (publish's, say) keeps it too
        history = open_history(fw, cache)
        assert history.gone == (f"branch 'main' is gone from {repo} (deleted or renamed upstream): the cached "
                                f"mirror keeps it at its last known tip {shas[-1][:8]}; name a branch that exists "
                                f"in frameworks.yaml to follow new commits")
        assert history.status == []
        assert [r.sha for r in history.revisions()] == shas
        assert history.repo_path == mirror and git("rev-parse", "refs/heads/main", git_dir=mirror).strip() == shas[-1]
    _git(repo, "branch", "-m", "trunk", "main")  # back upstream: followed again, nothing said
    new = add_commit(repo, Step())
    history = open_history(fw, cache)
    assert history.gone == "" and [r.sha for r in history.revisions()] == shas + [new]


def test_a_changed_repo_re_points_the_mirror(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    make_repo(first, [Step(subject="old") for _ in range(3)])
    moved = make_repo(second, [Step(subject=f"moved {i}") for i in range(2)])
    cache = tmp_path / "cache"
    mirror = open_history(_framework(tmp_path, first), cache).repo_path
    history = open_history(_framework(tmp_path, second), cache)
    assert history.status == [f"repo changed from {first} to {second}: the mirror now fetches from the new one"]
    assert [r.sha for r in history.revisions()] == moved
    assert git("config", "--get", "remote.origin.url", git_dir=mirror).strip() == str(second)
    assert open_history(_framework(tmp_path, second), cache).status == []  # said once


def test_a_changed_branch_is_fetched_into_the_same_mirror_and_a_missing_one_is_one_error(tmp_path):
    repo = tmp_path / "upstream"
    shas = make_repo(repo, [Step() for _ in range(3)])
    _git(repo, "branch", "stable", shas[1])
    cache = tmp_path / "cache"
    mirror = open_history(_framework(tmp_path, repo), cache).repo_path
    inode = (mirror / "objects").stat().st_ino
    stable = dataclasses.replace(_framework(tmp_path, repo), history=dataclasses.replace(
        _framework(tmp_path, repo).history, branch="stable"))
    history = open_history(stable, cache)
    assert history.status == [] and [r.sha for r in history.revisions()] == shas[:2]
    assert (mirror / "objects").stat().st_ino == inode  # fetched into, not cloned again
    nowhere = dataclasses.replace(stable, history=dataclasses.replace(stable.history, branch="nowhere"))
    with pytest.raises(HistoryError, match=f"history of synth unavailable: {repo} has no branch 'nowhere'"):
        open_history(nowhere, cache)
    assert [r.sha for r in open_history(stable, cache).revisions()] == shas[:2]  # the mirror is still there


def test_an_address_with_a_token_is_never_printed_whole(tmp_path):
    with pytest.raises(GitError) as err:
        ensure_mirror("http://user:TOKEN@127.0.0.1:9/r.git", tmp_path / "m.git", "main")
    assert str(err.value).startswith("cannot clone http://***@127.0.0.1:9/r.git: ")
    assert "TOKEN" not in str(err.value)


@pytest.mark.parametrize("rev", ["-b", "--all"])
def test_refs_beginning_with_a_dash_are_still_refused(tmp_path, rev):
    repo = tmp_path / "upstream"
    make_repo(repo, [Step()])
    with pytest.raises(GitError, match="is not a revision"):
        ensure_mirror(str(repo), tmp_path / "m.git", rev)
    assert not (tmp_path / "m.git").exists()


# --- releases mapped to their tags wherever they lie ------------------------------------------------------

RELEASES = {"1.0.0": "2023-01-10T00:00:00Z", "1.1.0": "2023-06-10T00:00:00Z", "1.2.0": "2023-09-10T00:00:00Z",
            "1.1.1": "2023-12-10T00:00:00Z", "2.0.0": "2024-01-10T00:00:00Z",
            "1.1.2": "2024-02-10T00:00:00Z"}  # a backport, released after the newest version


def _pypi(versions: dict[str, str]) -> dict:
    return {"releases": {v: [{"filename": f"pkg-{v}.tar.gz", "yanked": False, "upload_time_iso_8601": t}]
                         for v, t in versions.items()}}


def _release_repo(path: Path) -> dict[str, str]:
    """main: c0 (v1.0.0), c1 (v1.1.0, annotated), c2 (1.1.1, no `v`); release-2 off c1: r0 (v2.0.0); no 1.2.0."""
    c = make_repo(path, [Step(subject=f"c{i}") for i in range(3)])
    _git(path, "tag", "v1.0.0", c[0])
    _git(path, "tag", "-a", "-m", "1.1.0", "v1.1.0", c[1])
    _git(path, "tag", "1.1.1", c[2])
    _git(path, "checkout", "-q", "-b", "release-2", c[1])
    r0 = add_commit(path, Step(subject="r0"))
    _git(path, "tag", "v2.0.0", r0)
    _git(path, "checkout", "-q", "main")
    return {"1.0.0": c[0], "1.1.0": c[1], "1.1.1": c[2], "2.0.0": r0}


def _releases_config(root: Path, repo: Path | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    path = root / "frameworks.yaml"
    path.write_text("version: 1\nframeworks:\n  - name: pkgfw\n    adapter: command\n    proof_system: x\n"
                    "    model_format: ONNX\n" + (f"    repo: {repo}\n" if repo else "") +
                    "    history: {kind: releases, package: {registry: pypi, name: pkg}, select: {latest: 1}}\n"
                    "    build: {kind: none}\n    stages: {prove: 'true'}\n")
    return path


@pytest.fixture
def pypi(serve, monkeypatch):
    url, handler = serve("json")
    handler.payload = json.dumps(_pypi(RELEASES)).encode()
    monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", url.rsplit("/hooks", 1)[0] + "/pypi")
    return handler


def test_releases_map_to_their_tags_wherever_they_lie_in_version_order(tmp_path, pypi):
    upstream = tmp_path / "upstream"
    tagged = _release_repo(upstream)
    fw = load_config(_releases_config(tmp_path / "with", upstream)).framework("pkgfw")
    history = open_history(fw, tmp_path / "cache")
    revisions = history.revisions()
    # the followed line 2.0 grew from 1.2.0; 1.1.1 and 1.1.2, released after 1.2.0, are on the 1.1 line
    assert [r.label for r in revisions] == ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
    assert set(history.other_lines) == {"1.1.1", "1.1.2"}
    assert {r.label: r.upstream_sha for r in revisions} == {"1.0.0": tagged["1.0.0"], "1.1.0": tagged["1.1.0"],
                                                            "1.2.0": None, "2.0.0": tagged["2.0.0"]}
    assert [r.subject for r in revisions] == [
        f"pkg 1.0.0; tag v1.0.0 at {tagged['1.0.0'][:8]}", f"pkg 1.1.0; tag v1.1.0 at {tagged['1.1.0'][:8]}",
        "pkg 1.2.0; no tag upstream: placed by its version", f"pkg 2.0.0; tag v2.0.0 at {tagged['2.0.0'][:8]}"]
    assert [r.position for r in revisions] == [1, 2, 3, 4]
    assert history.status == ["1 release(s) with no tag upstream (1.2.0): placed by their versions"]
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    # the registry's newest is its highest version (PyPI's, npm's `latest`), not the backport released after it
    assert [r.label for r in choose_revisions(fw, history, layout, Request())] == ["2.0.0"]  # latest: 1
    assert [r.label for r in choose_revisions(fw, history, layout, Request(latest=3))] == ["1.1.0", "1.2.0", "2.0.0"]
    # --steps samples the whole history, over the configured latest: 1
    assert len(choose_revisions(fw, history, layout, Request(steps=3))) == 3
    assert [r.label for r in select.pinned(history, ["v2.0.0", tagged["1.1.0"][:10], "1.2.0"])] == \
        ["1.1.0", "1.2.0", "2.0.0"]  # by upstream tag, upstream commit or version, in history order
    # the same commits as the history derived with the repo out of reach: results do not depend on the network
    alone = load_config(_releases_config(tmp_path / "without", None)).framework("pkgfw")
    assert [r.sha for r in open_history(alone, tmp_path / "cache2").revisions()] == [r.sha for r in revisions]


@pytest.mark.slow
def test_a_run_of_the_latest_release_runs_the_registrys_newest(tmp_path, pypi, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    upstream = tmp_path / "upstream"
    tagged = _release_repo(upstream)
    config = _releases_config(tmp_path / "t", upstream)
    args = ["--config", str(config), "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache")]
    main([*args, "run", "--no-publish", "-m", "linear"])
    out = capsys.readouterr().out
    assert "pkgfw: 1 revision(s) to run: 2.0.0" in out
    known = json.loads((tmp_path / "results" / "pkgfw" / "revisions.json").read_text())["revisions"]
    [(sha, info)] = known.items()
    assert info["label"] == "2.0.0" and info["upstream_sha"] == tagged["2.0.0"] and info["position"] == 4
    assert info["subject"] == f"pkg 2.0.0; tag v2.0.0 at {tagged['2.0.0'][:8]}"


# --- the whole commands: nightly, run and publish on a moving upstream ------------------------------------

class Tracker:
    """The command line against one frameworks.yaml and one set of dirs."""

    def __init__(self, root: Path, repo: Path, nightly_max: int):
        root.mkdir(parents=True, exist_ok=True)
        (root / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
        self.config = root / "frameworks.yaml"
        self.results, self.html, self.cache = root / "results", root / "html", root / "cache"
        self.repoint(repo, nightly_max)
        for _, package, file in ASSETS:  # asv's page libraries, as npm would have put them: no network here
            asset_path(self.cache, package, file).parent.mkdir(parents=True, exist_ok=True)
            asset_path(self.cache, package, file).write_text(f"/* {package} {file} */")

    def repoint(self, repo: Path, nightly_max: int) -> None:
        self.config.write_text(config_text(repo, nightly_max))

    def __call__(self, *args: str) -> int:
        return main(["--config", str(self.config), "--results", str(self.results), "--html", str(self.html),
                     "--cache", str(self.cache), *args])

    @property
    def mirror(self) -> Path:
        return self.cache / "mirrors" / "synth.git"

    def status(self) -> dict:
        return json.loads((self.results / "synth" / "status.json").read_text())

    def published(self) -> set[str]:
        return set(json.loads((self.html / "synth" / "index.json").read_text())["revision_to_hash"].values())


@pytest.mark.slow
def test_the_branch_is_followed_not_a_tag_and_latest_is_the_tip_whatever_its_date(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    repo = tmp_path / "upstream"
    shas = make_repo(repo, [Step() for _ in range(3)])
    _git(repo, "tag", "main", shas[0])
    _git(repo, "commit", "-q", "--allow-empty", "-m", "dated a day before its parent", when=START)
    tip = _git(repo, "rev-parse", "HEAD").strip()
    t = Tracker(tmp_path / "t", repo, nightly_max=2)
    assert t("nightly", "-m", "linear") in (0, 3)  # 3 where timing noise on a 0.1 s prover is called a step
    out = capsys.readouterr().out
    assert "synth: 2 revision(s) to run: " + ", ".join(s[:8] for s in (shas[2], tip)) in out
    assert "2 new revision(s) run" in out
    assert {shas[2], tip} <= t.published()
    site = collect(load_config(t.config), Layout(t.results, t.html, t.cache))
    [card] = site.cards
    assert card.latest.sha == tip
    assert {row.revision.sha for row in card.rows} == {tip}


@pytest.mark.slow
def test_a_branch_gone_upstream_is_one_line_and_nothing_is_lost(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    repo = tmp_path / "upstream"
    shas = make_repo(repo, [Step() for _ in range(3)])
    t = Tracker(tmp_path / "t", repo, nightly_max=1)
    assert t("nightly", "-m", "linear") in (0, 3)  # 3 where timing noise on a 0.1 s prover is called a step
    records = sorted((t.results / "synth").rglob("*.json"))
    _git(repo, "branch", "-m", "main", "renamed")
    capsys.readouterr()

    line = (f"branch 'main' is gone from {repo} (deleted or renamed upstream): the cached mirror keeps it at its "
            f"last known tip {shas[-1][:8]}; name a branch that exists in frameworks.yaml to follow new commits")
    assert t("nightly", "-m", "linear") in (1, 3)  # 1: a framework not followed (3 if noise were alerted)
    out = capsys.readouterr()
    assert f"synth: {line}" in out.out.splitlines()
    assert "Traceback" not in out.out + out.err
    assert (t.status()["status"], t.status()["reason"]) == ("failed", line)
    assert t("run", "--no-publish", "--latest", "1", "-m", "linear") == 1  # a run says it with its status
    assert t("publish") == 0
    assert t("publish") == 0  # twice: publish used to find the mirror "damaged" and delete it
    assert git("rev-parse", "refs/heads/main", git_dir=t.mirror).strip() == shas[-1]
    assert shas[-1] in t.published()
    assert all(p.exists() for p in records)

    # frameworks.yaml follows the renamed branch's repository elsewhere: the mirror is re-pointed
    moved = tmp_path / "moved"
    new = make_repo(moved, [Step(subject=f"moved {i}") for i in range(2)])
    t.repoint(moved, nightly_max=1)
    capsys.readouterr()
    assert t("nightly", "-m", "linear") in (0, 3)  # 3 where timing noise on a 0.1 s prover is called a step
    out = capsys.readouterr().out
    assert f"synth: repo changed from {repo} to {moved}: the mirror now fetches from the new one" in out
    assert f"synth: 1 revision(s) to run: {new[-1][:8]}" in out
    assert git("config", "--get", "remote.origin.url", git_dir=t.mirror).strip() == str(moved)
    assert t.status()["status"] == "ok"
    assert all(p.exists() for p in records)


# --- the nightly workflow keeps results on a branch ---------------------------------------------------------

def _workflow_step(job: str, step_id: str) -> str:
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    [step] = [s for s in workflow["jobs"][job]["steps"] if s.get("id") == step_id]
    return step["run"]


def _bash(script: str, cwd: Path, tmp_path: Path) -> str:
    env = {**os.environ, "RESULTS_BRANCH": "results", "RUNNER_TEMP": str(tmp_path), "GITHUB_RUN_ID": "42",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_the_workflow_keeps_results_on_a_branch_and_restores_them(tmp_path):
    """The workflow's own scripts, run with bash against a local origin, as the runners would run them."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    assert workflow["jobs"]["publish"]["permissions"]["contents"] == "write"
    assert not any("cache" in s.get("uses", "") and "results" in str(s.get("with", {}).get("path", ""))
                   for job in workflow["jobs"].values() for s in job["steps"])  # results are in no cache
    origin = tmp_path / "origin.git"
    make_repo(tmp_path / "project", [Step()])
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp_path / "project"), str(origin)], check=True)

    def runner(name: str) -> Path:  # a fresh runner: a shallow checkout, as actions/checkout makes
        subprocess.run(["git", "clone", "-q", "--depth=1", origin.as_uri(), str(tmp_path / name)], check=True)
        return tmp_path / name

    first = runner("night1")
    assert "no results branch yet" in _bash(_workflow_step("run", "restore-results"), first, tmp_path)
    kept = {"synth/asv/m/abc12345-existing.json": b'{"commit_hash": "abc"}', "synth/revisions.json": b"{}",
            "synth/records/abc/linear--default.json": b'{"version": 1}'}
    for name, data in {**kept, "synth/logs/asv-run.log": b"long log", ".nightly.lock": b"123"}.items():
        (first / "results" / name).parent.mkdir(parents=True, exist_ok=True)
        (first / "results" / name).write_bytes(data)
    _bash(_workflow_step("publish", "keep-results"), first, tmp_path)

    second = runner("night2")
    _bash(_workflow_step("publish", "restore-results"), second, tmp_path)
    assert _tree(second / "results") == kept  # logs and the lock are not kept on the branch
    (second / "results" / "synth" / "revisions.json").write_bytes(b'{"version": 1}')
    _bash(_workflow_step("publish", "keep-results"), second, tmp_path)
    assert "results unchanged" in _bash(_workflow_step("publish", "keep-results"), second, tmp_path)
    log = git("log", "--format=%s", "refs/heads/results", git_dir=origin).splitlines()
    assert log == ["results of run 42", "results of run 42"]  # two commits, one after the other

    third = runner("night3")
    _bash(_workflow_step("run", "restore-results"), third, tmp_path)
    assert _tree(third / "results") == {**kept, "synth/revisions.json": b'{"version": 1}'}


def _runner_with_tracker(tmp_path: Path, origin: Path, name: str, repo: Path, cache: Path) -> Path:
    """A fresh runner's checkout whose `.venv/bin/zkml-tracker` is this tracker, following the synthetic
    framework (the runner's own `pip install -e .` step, without the network)."""
    runner = tmp_path / name
    subprocess.run(["git", "clone", "-q", "--depth=1", origin.as_uri(), str(runner)], check=True)
    (runner / "frameworks.yaml").write_text(config_text(repo))
    (runner / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    tracker = runner / ".venv" / "bin" / "zkml-tracker"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m tracker --cache {cache} \"$@\"\n")
    tracker.chmod(0o755)
    return runner


def _step(job: str, step_id: str, cwd: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    [step] = [s for s in workflow["jobs"][job]["steps"] if s.get("id") == step_id]
    env = {**os.environ, "RESULTS_BRANCH": "results", "RUNNER_TEMP": str(tmp_path), "GITHUB_RUN_ID": "42",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "ZKML_TRACKER_MACHINE": "test-machine", **env}
    # GitHub runs a step as `bash --noprofile --norc -eo pipefail {0}`
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_workflow_keeps_results_and_reports_a_regression_once_over_three_nights(tmp_path, site_assets):
    """Three nights of the workflow's own steps against a local origin: run job (restore, nightly, artifact),
    publish job (restore, merge and publish, report, keep). The proof grows at the second commit: the
    first night reports it, the next two (one with a new commit) do not, and the results branch carries
    what was reported, inside the framework's results."""
    import shutil

    origin = tmp_path / "origin.git"
    make_repo(tmp_path / "project", [Step()])
    subprocess.run(["git", "clone", "-q", "--bare", str(tmp_path / "project"), str(origin)], check=True)
    repo = tmp_path / "synth-repo"
    make_repo(repo, [Step(delay=0.05, proof_bytes=1000), Step(delay=0.05, proof_bytes=1200)])
    run_cache, publish_cache = tmp_path / "run-cache", tmp_path / "publish-cache"
    publish_cache.mkdir()
    (publish_cache / "asv-www").symlink_to(site_assets)
    from tracker.models.zoo import SUITES

    told, first_bad, models = [], _git(repo, "rev-parse", "HEAD").strip(), len(SUITES["tiny"])
    for night in (1, 2, 3):
        if night == 2:
            add_commit(repo, Step(delay=0.05, proof_bytes=1200))
        job = _runner_with_tracker(tmp_path, origin, f"run-{night}", repo, run_cache)
        assert _step("run", "restore-results", job, tmp_path).returncode == 0
        done = _step("run", "nightly", job, tmp_path, FRAMEWORK="synth")
        assert done.returncode == 0, done.stdout + done.stderr  # 3 on the first night passes: a verdict
        told.append(done.stdout)
        shard = tmp_path / f"publish-{night}-shards" / "results-synth"
        shutil.copytree(job / "results" / "synth", shard)  # upload-artifact, then download-artifact

        pub = _runner_with_tracker(tmp_path, origin, f"publish-{night}", repo, publish_cache)
        shutil.move(shard.parent, pub / "shards")
        for step in ("restore-results", "merge-publish", "report", "keep-results"):
            done = _step("publish", step, pub, tmp_path)
            assert done.returncode == 0, (step, done.stdout + done.stderr)
        report = json.loads((pub / "html" / "regressions-report.json").read_text())
        size = {(r["model"], r["first_bad"], r["after"]) for r in report["regressions"] if r["metric"] == "proof_size"}
        assert {(after, bad) for _, bad, after in size} == {(1200, first_bad)} and len(size) == models
    # told once (a timing step of a 0.05 s prover may be confirmed on a busy machine: that is another key)
    assert ["proof_size" in night for night in told] == [True, False, False], told
    assert "1 new revision(s) run" in told[1] and "0 new revision(s) run" in told[2]
    kept = git("show", "refs/heads/results:synth/reported-regressions.json", git_dir=origin)
    assert [k[3] for k in json.loads(kept)["keys"]].count("proof_size") == models  # one key a model


@pytest.mark.parametrize("status, passes", [(0, True), (3, True), (75, True), (1, False), (2, False), (74, False)])
def test_a_workflow_step_passes_only_what_is_not_a_failure(tmp_path, status, passes):
    """The nightly step against a tracker that exits with `status`: only 0, 3 (new regressions) and 75
    (locked) pass; the publish step passes 0 and 75 alone."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "zkml-tracker").write_text(f"#!/bin/sh\nexit {status}\n")
    (tmp_path / ".venv" / "bin" / "zkml-tracker").chmod(0o755)
    (tmp_path / "html").mkdir()
    assert (_step("run", "nightly", tmp_path, tmp_path, FRAMEWORK="x").returncode == 0) == passes
    assert (_step("publish", "report", tmp_path, tmp_path).returncode == 0) == passes
    assert (_step("publish", "merge-publish", tmp_path, tmp_path).returncode == 0) == (status in (0, 75))


def test_every_framework_is_in_the_workflows_matrix_and_zktorch_gets_rust():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    matrix = workflow["jobs"]["run"]["strategy"]["matrix"]["framework"]
    assert sorted(matrix) == sorted(fw.name for fw in load_config(ROOT / "frameworks.yaml").frameworks)
    rust = [s for s in workflow["jobs"]["run"]["steps"] if "rustup" in s.get("run", "")]
    assert [s["if"] for s in rust] == ["matrix.framework == 'zktorch'"]
    zktorch = load_config(ROOT / "frameworks.yaml").framework("zktorch")
    assert zktorch.repo.startswith("https://github.com/")  # a hosted runner clones it; no local clone needed there


def test_merged_shards_keep_every_confirmation_and_everything_reported(tmp_path):
    """Two shards of one framework, each with its own re-measured verdict and reported regression: the merge
    keeps both (it kept the last shard's files alone, and a confirmed regression went back to candidate)."""
    from tracker.publish.merge import merge_into

    def shard(name: str, pair: str, measured: str, reported: list) -> Path:
        fw = tmp_path / name / "synth"
        fw.mkdir(parents=True)
        (fw / "status.json").write_text(json.dumps({"framework": "synth"}))
        (fw / "confirmations.json").write_text(json.dumps({"version": 1, "pairs": {
            pair: {"measured": measured, "metrics": {"prove_time": {"verdict": "confirmed"}}}}}))
        (fw / "reported-regressions.json").write_text(json.dumps({"version": 1, "keys": [reported], "noise": []}))
        return tmp_path / name

    a = shard("a", "linear|default|1|2", "2026-12-01T00:00:00+00:00", ["synth", "linear", "default", "prove_time", "2"])
    b = shard("b", "mlp|default|3|4", "2026-12-02T00:00:00+00:00", ["synth", "mlp", "default", "proof_size", "4"])
    later = shard("c", "linear|default|1|2", "2026-12-03T00:00:00+00:00", [])
    results = tmp_path / "results"
    assert merge_into(results, [a, b]) == ["synth"]
    pairs = json.loads((results / "synth" / "confirmations.json").read_text())["pairs"]
    assert sorted(pairs) == ["linear|default|1|2", "mlp|default|3|4"]
    keys = json.loads((results / "synth" / "reported-regressions.json").read_text())["keys"]
    assert sorted(k[3] for k in keys) == ["proof_size", "prove_time"]
    merge_into(results, [later, a])  # a verdict measured later wins, whatever the order of the shards
    pairs = json.loads((results / "synth" / "confirmations.json").read_text())["pairs"]
    assert pairs["linear|default|1|2"]["measured"].startswith("2026-12-03") and len(pairs) == 2


def test_a_results_root_reported_file_moves_into_each_framework_once(tmp_path, capsys):
    from tracker.report.reported import load_reported, reported_path

    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    layout.results.mkdir()
    old = layout.results / "reported-regressions.json"
    old.write_text(json.dumps({"version": 1, "keys": [["a", "m", "v", "proof_size", "1"],
                                                      ["b", "m", "v", "prove_time", "2"]], "noise": []}))
    lines: list[str] = []
    told = load_reported(layout, ["a", "b"], lines.append)
    assert told["keys"] == {("a", "m", "v", "proof_size", "1"), ("b", "m", "v", "prove_time", "2")}
    assert not old.exists() and reported_path(layout, "a").is_file() and reported_path(layout, "b").is_file()
    assert lines == [f"reported-regressions.json moved from {layout.results} into each framework's results (2 "
                     f"framework(s)), where the results branch and the workflow's artifacts carry it"]
    assert load_reported(layout, ["a"], lines.append)["keys"] == {("a", "m", "v", "proof_size", "1")}
    assert len(lines) == 1  # said once
