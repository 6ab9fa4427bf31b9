"""Histories on real git repositories made in the test: mirrors, damage under the cache, hostile repos and
revisions, registry-derived histories (served by a localhost registry), and revision selection.

Nothing here reaches the network: remotes are local paths and file:// URLs, registries are a local HTTP
server or a closed port.
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.synthetic import Step, _git, add_commit, config_text, make_repo
from tracker.cli import main
from tracker.adapters import load_config
from tracker.history import HistoryError, open_history, select
from tracker.history.git import GitError, ensure_mirror, export_tree, first_parent, git, resolve
from tracker.history.registry import RegistryError, derive_history, releases
from tracker.layout import Layout
from tracker.run.runner import Request, choose_revisions
from tracker.types import Package
from tracker.store.paths import FrameworkStore


# --- helpers -------------------------------------------------------------------------------------------

def framework(tmp_path: Path, repo: str | Path, nightly_max: int = 50):
    """The synthetic framework as the config loader makes it, with `repo` put in afterwards (any URL)."""
    path = tmp_path / "frameworks.yaml"
    path.write_text(config_text(Path("/placeholder"), nightly_max))
    fw = load_config(path).framework("synth")
    return dataclasses.replace(fw, repo=str(repo))


def shas_of(history) -> list[str]:
    return [r.sha for r in history.revisions()]


@pytest.fixture
def repo(tmp_path) -> tuple[Path, list[str]]:
    path = tmp_path / "upstream"
    return path, make_repo(path, [Step(subject=f"commit {i}") for i in range(12)])


# --- mirrors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["path", "file-url"])
def test_a_mirror_from_a_local_path_or_a_file_url(tmp_path, repo, how):
    path, shas = repo
    url = str(path) if how == "path" else path.as_uri()
    history = open_history(framework(tmp_path, url), tmp_path / "cache")
    assert shas_of(history) == shas
    assert history.status == []
    assert history.repo_path == tmp_path / "cache" / "mirrors" / "synth.git"
    assert [r.subject for r in history.revisions()][:2] == ["commit 0", "commit 1"]


def test_fetch_picks_up_new_commits(tmp_path, repo):
    path, shas = repo
    fw, cache = framework(tmp_path, path.as_uri()), tmp_path / "cache"
    assert shas_of(open_history(fw, cache)) == shas
    new = add_commit(path, Step(subject="a new one"))
    history = open_history(fw, cache)
    assert shas_of(history) == shas + [new]
    assert history.status == []


def test_an_unreachable_remote_leaves_the_cached_mirror_and_says_so(tmp_path, repo):
    path, shas = repo
    fw, cache = framework(tmp_path, path), tmp_path / "cache"
    open_history(fw, cache)
    path.rename(tmp_path / "gone")
    history = open_history(fw, cache)
    assert shas_of(history) == shas
    assert len(history.status) == 1 and "remote unreachable" in history.status[0]
    assert "using the cached mirror" in history.status[0]


def test_no_mirror_and_no_remote_is_one_clear_error(tmp_path):
    with pytest.raises(HistoryError) as err:
        open_history(framework(tmp_path, tmp_path / "nowhere"), tmp_path / "cache")
    assert "history of synth unavailable: cannot clone" in str(err.value)


def _unpack_loose(mirror: Path) -> None:
    """Turn the mirror's pack into loose objects, so a test can take out a single one."""
    packs = list((mirror / "objects" / "pack").glob("*.pack"))
    for pack in packs:
        data = pack.read_bytes()
        for f in (mirror / "objects" / "pack").iterdir():
            f.unlink()
        subprocess.run(["git", "--git-dir", str(mirror), "unpack-objects", "-q"], input=data, check=True)


def _damage(mirror: Path, kind: str, sha: str) -> None:
    if kind == "deleted":
        shutil.rmtree(mirror)
    elif kind == "emptied":
        shutil.rmtree(mirror)
        mirror.mkdir()
    elif kind == "a file":
        shutil.rmtree(mirror)
        mirror.write_text("not a repository\n")
    elif kind == "head garbage":
        (mirror / "HEAD").write_text("garbage\n")
    elif kind == "refs lost":
        (mirror / "packed-refs").unlink(missing_ok=True)
        shutil.rmtree(mirror / "refs" / "heads")
        (mirror / "refs" / "heads").mkdir()
    elif kind == "objects lost":
        for d in (mirror / "objects").iterdir():
            if d.name not in ("info", "pack"):
                shutil.rmtree(d)
        shutil.rmtree(mirror / "objects" / "pack")
        (mirror / "objects" / "pack").mkdir()
    elif kind == "pack truncated":
        git("repack", "-adq", git_dir=mirror)
        pack = next((mirror / "objects" / "pack").glob("*.pack"))
        pack.write_bytes(pack.read_bytes()[:100])
    else:
        raise AssertionError(kind)


DAMAGE = ["deleted", "emptied", "a file", "head garbage", "refs lost", "objects lost", "pack truncated"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_mirror_is_cloned_again(tmp_path, repo, kind):
    path, shas = repo
    fw, cache = framework(tmp_path, path), tmp_path / "cache"
    mirror = open_history(fw, cache).repo_path
    _damage(mirror, kind, shas[-1])
    history = open_history(fw, cache)
    assert shas_of(history) == shas
    # lost objects of a ref that still resolves are fetched again by the update itself, and lost branch refs
    # come back from the tip the mirror keeps apart from them (refs/zkml-tracker/heads/)
    assert history.status in ([], ["the cached mirror was damaged and has been cloned again"])
    if kind not in ("deleted", "objects lost", "refs lost"):
        assert history.status
    history.checkout_fn(history.revisions()[-1])(tmp_path / "src")
    assert "DELAY" in (tmp_path / "src" / "prover.py").read_text()


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_mirror_without_its_remote_is_a_clear_error(tmp_path, repo, kind, capsys):
    path, shas = repo
    fw, cache = framework(tmp_path, path), tmp_path / "cache"
    open_history(fw, cache)
    _damage(cache / "mirrors" / "synth.git", kind, shas[-1])
    path.rename(tmp_path / "gone")
    if kind == "refs lost":  # the branch is put back at the tip the mirror keeps: nothing was lost
        history = open_history(fw, cache)
        assert shas_of(history) == shas
        assert len(history.status) == 1 and "using the cached mirror" in history.status[0]
        return
    with pytest.raises(HistoryError) as err:
        open_history(fw, cache)
    assert str(err.value).startswith("history of synth unavailable: cannot clone")


def test_an_object_lost_from_a_healthy_looking_mirror_is_fetched_again_at_export(tmp_path, repo):
    path, shas = repo
    fw, cache = framework(tmp_path, path), tmp_path / "cache"
    mirror = open_history(fw, cache).repo_path
    _unpack_loose(mirror)
    blob = git("rev-parse", f"{shas[-1]}:prover.py", git_dir=mirror).strip()
    (mirror / "objects" / blob[:2] / blob[2:]).unlink()
    history = open_history(fw, cache)  # the branch still resolves: the mirror looks healthy
    assert history.status == []
    history.checkout_fn(history.revisions()[-1])(tmp_path / "src")
    assert "DELAY" in (tmp_path / "src" / "prover.py").read_text()
    assert "cloned again" in history.status[-1]


def test_an_object_lost_with_the_remote_gone_is_a_history_error_not_a_traceback(tmp_path, repo):
    path, shas = repo
    fw, cache = framework(tmp_path, path), tmp_path / "cache"
    mirror = open_history(fw, cache).repo_path
    _unpack_loose(mirror)
    blob = git("rev-parse", f"{shas[-1]}:prover.py", git_dir=mirror).strip()
    (mirror / "objects" / blob[:2] / blob[2:]).unlink()
    path.rename(tmp_path / "gone")
    history = open_history(fw, cache)
    with pytest.raises(HistoryError) as err:
        history.checkout_fn(history.revisions()[-1])(tmp_path / "src")
    assert "cloning the mirror again failed" in str(err.value)
    assert shas_of(history) == shas  # the old mirror is kept: its history still reads


@pytest.mark.slow
def test_a_run_goes_on_with_the_cached_mirror_when_the_remote_is_gone(tmp_path, repo, capsys, monkeypatch):
    """The whole command: a nightly with the remote gone runs on the mirror and says so on its output."""
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    path, shas = repo
    root = tmp_path / "t"
    root.mkdir()
    (root / "frameworks.yaml").write_text(config_text(path, nightly_max=1))
    (root / "asv.conf.json").write_text((Path(__file__).parents[1] / "asv.conf.json").read_text())
    args = ["--config", str(root / "frameworks.yaml"), "--cache", str(root / "cache")]
    assert main([*args, "list"]) == 0  # list does not clone: the first nightly does
    open_history(framework(tmp_path, path), root / "cache")
    path.rename(tmp_path / "gone")
    capsys.readouterr()
    assert main([*args, "nightly", "--no-publish", "-m", "linear"]) == 0
    out = capsys.readouterr().out
    assert "synth: remote unreachable" in out and "using the cached mirror" in out
    assert "1 new revision(s) run" in out
    assert (root / "results" / "synth" / "records" / shas[-1] / "linear--default.json").exists()


# --- hostile repositories and revisions ----------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "ext::sh -c touch% {mark}",
    "ext::touch {mark}",
    "fd::3",
    "--upload-pack=touch {mark}",
    "-u touch {mark}",
    "ssh://-oProxyCommand=touch%20{mark}/repo",
])
def test_command_running_transports_are_refused_by_git_itself(tmp_path, url):
    """Even if a URL slipped past the config, the git wrapper runs no command for it."""
    mark = tmp_path / "pwned"
    url = url.format(mark=mark)
    with pytest.raises(GitError):
        ensure_mirror(url, tmp_path / "cache" / "m.git", "main")
    with pytest.raises(HistoryError):
        open_history(framework(tmp_path, url), tmp_path / "cache2")
    assert not mark.exists()
    assert not (tmp_path / "cache" / "m.git").exists()


@pytest.mark.parametrize("rev", ["--all", "-n1", "--output=/tmp/zkml-pwned", "-", "--end-of-options"])
def test_revisions_beginning_with_a_dash_are_refused(tmp_path, repo, rev):
    path, shas = repo
    history = open_history(framework(tmp_path, path), tmp_path / "cache")
    with pytest.raises(GitError, match="is not a revision"):
        resolve(history.repo_path, rev)
    with pytest.raises(GitError, match="is not a revision"):
        first_parent(history.repo_path, rev)
    with pytest.raises(GitError, match="is not a revision"):
        export_tree(history.repo_path, rev, tmp_path / "out")
    with pytest.raises(HistoryError):
        history.resolve(rev)
    with pytest.raises(HistoryError):
        select.in_range(history, f"{rev}..{shas[3]}")
    with pytest.raises(HistoryError):
        select.in_range(history, f"{shas[3]}..{rev}")


@pytest.mark.parametrize("branch", ["--upload-pack=touch x", "-b", "--all"])
def test_a_branch_beginning_with_a_dash_is_refused(tmp_path, repo, branch):
    path, _ = repo
    with pytest.raises(GitError):
        ensure_mirror(str(path), tmp_path / "cache" / "m.git", branch)
    with pytest.raises(GitError):
        first_parent(path / ".git", branch)


def test_a_revision_option_on_the_command_line_is_one_line_not_a_traceback(tmp_path, repo, capsys):
    path, _ = repo
    (tmp_path / "frameworks.yaml").write_text(config_text(path))
    for bad in (["-r=--output=/tmp/zkml-pwned"], ["--range=--all..HEAD"], ["-r", "no-such-revision"]):
        status = main(["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache"),
                       "run", "--no-publish", *bad])
        out = capsys.readouterr()
        assert status == 2  # a usage error, refused before anything is built
        assert "Traceback" not in out.out + out.err
        assert len(out.err.splitlines()) == 1
        assert "synth:" in out.err and ("not a revision" in out.err or "unknown revision" in out.err)
    assert not Path("/tmp/zkml-pwned").exists()


def test_links_that_lead_outside_the_tree_are_dropped_by_export(tmp_path):
    upstream = tmp_path / "upstream"
    make_repo(upstream, [Step()])
    (upstream / "sub").mkdir()
    os.symlink("/etc/passwd", upstream / "abs")
    os.symlink("../../../../secret", upstream / "up")
    os.symlink("../../prover.py", upstream / "sub" / "escape")
    os.symlink("prover.py", upstream / "inside")
    os.symlink("../prover.py", upstream / "sub" / "inside")
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-q", "-m", "links")
    history = open_history(framework(tmp_path, upstream), tmp_path / "cache")
    dest = tmp_path / "build" / "src"
    history.checkout_fn(history.revisions()[-1])(dest)
    for name in ("abs", "up", "sub/escape"):
        assert not os.path.lexists(dest / name), name
    assert (dest / "inside").read_text() == (dest / "prover.py").read_text()
    assert (dest / "sub" / "inside").read_text() == (dest / "prover.py").read_text()
    dropped = (tmp_path / "build" / "dropped-links.txt").read_text().split()
    assert sorted(dropped) == ["abs", "sub/escape", "up"]


# --- histories derived from a package registry -------------------------------------------------------

def _pypi_files(version: str, when: str, kind: str = "sdist") -> list[dict]:
    name = {"sdist": f"pkg-{version}.tar.gz", "any": f"pkg-{version}-py3-none-any.whl",
            "windows": f"pkg-{version}-cp311-cp311-win_amd64.whl"}[kind]
    return [{"filename": name, "upload_time_iso_8601": when, "yanked": False}]


PYPI = {"releases": {
    "1.10.0": _pypi_files("1.10.0", "2024-03-01T10:00:00.000000Z", "any"),
    "0.9.0": _pypi_files("0.9.0", "2023-01-05T08:30:00.000000Z"),
    "1.2.0": _pypi_files("1.2.0", "2023-06-01T12:00:00.000000Z"),
    "1.9.0": _pypi_files("1.9.0", "2024-01-15T09:00:00.000000Z"),
    "2.0.0rc1": _pypi_files("2.0.0rc1", "2024-04-01T00:00:00.000000Z"),    # a pre-release: left out
    "1.9.5": _pypi_files("1.9.5", "2024-02-01T00:00:00.000000Z", "windows"),  # nothing installable here
    "1.9.6": [{**_pypi_files("1.9.6", "2024-02-02T00:00:00.000000Z")[0], "yanked": True}],
}}
NPM = {"versions": {"1.1.0": {}, "1.4.4": {}, "1.3.0": {}, "2.0.0-beta.1": {}},
       "time": {"created": "2022-01-01T00:00:00.000Z", "1.1.0": "2022-02-01T00:00:00.000Z",
                "1.3.0": "2022-06-01T00:00:00.000Z", "1.4.4": "2023-03-03T03:03:03.000Z",
                "2.0.0-beta.1": "2023-09-01T00:00:00.000Z"}}


class Registry:
    """A localhost registry answering like PyPI's JSON API and the npm registry, with what the test puts in."""

    def __init__(self):
        self.answers: dict[str, tuple[int, bytes]] = {}
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                status, body = registry.answers.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, path: str, data, status: int = 200) -> None:
        self.answers[path] = (status, data if isinstance(data, bytes) else json.dumps(data).encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry(monkeypatch):
    r = Registry()
    monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", f"{r.url}/pypi")
    monkeypatch.setenv("ZKML_TRACKER_NPM_URL", f"{r.url}/npm")
    r.serve("/pypi/pkg/json", PYPI)
    r.serve("/npm/circomlib-ml", NPM)
    yield r
    r.close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


PKG = Package("pypi", "pkg")


def _commit_dates(repo: Path) -> list[datetime]:
    out = git("log", "--reverse", "--format=%at %ct", "main", git_dir=repo)
    dates = []
    for line in out.splitlines():
        author, committer = line.split()
        assert author == committer
        dates.append(datetime.fromtimestamp(int(author), timezone.utc))
    return dates


def test_a_pypi_history_is_one_dated_tagged_commit_per_release_in_release_date_order(tmp_path, registry):
    found, note = releases(PKG, tmp_path / "cache")
    assert note == ""
    assert [r.version for r in found] == ["0.9.0", "1.2.0", "1.9.0", "1.10.0"]
    revisions = derive_history(PKG, found, tmp_path / "a.git")
    assert [r.label for r in revisions] == ["0.9.0", "1.2.0", "1.9.0", "1.10.0"]
    assert [r.version for r in revisions] == ["0.9.0", "1.2.0", "1.9.0", "1.10.0"]
    assert [r.date for r in revisions] == [r.uploaded for r in found] == _commit_dates(tmp_path / "a.git")
    assert revisions[0].date == datetime(2023, 1, 5, 8, 30, tzinfo=timezone.utc)
    tags = dict(line.split() for line in git("for-each-ref", "--format=%(refname:short) %(objectname)",
                                             "refs/tags", git_dir=tmp_path / "a.git").splitlines())
    assert tags == {r.version: r.sha for r in revisions}
    for r in revisions:
        assert resolve(tmp_path / "a.git", r.version) == r.sha
        body = json.loads(git("show", f"{r.sha}:RELEASE.json", git_dir=tmp_path / "a.git"))
        assert body["version"] == r.version and body["package"] == "pkg"

    # the same releases derive the same commits, in another place and at another time
    again = derive_history(PKG, releases(PKG, tmp_path / "cache2")[0], tmp_path / "b.git")
    assert [r.sha for r in again] == [r.sha for r in revisions]


def test_a_new_release_appends_exactly_one_commit(tmp_path, registry):
    first = derive_history(PKG, releases(PKG, tmp_path / "cache")[0], tmp_path / "a.git")
    newer = json.loads(json.dumps(PYPI))
    newer["releases"]["1.11.0"] = _pypi_files("1.11.0", "2024-05-01T00:00:00.000000Z")
    registry.serve("/pypi/pkg/json", newer)
    second = derive_history(PKG, releases(PKG, tmp_path / "cache")[0], tmp_path / "a.git")
    assert [r.sha for r in second[:-1]] == [r.sha for r in first]
    assert second[-1].label == "1.11.0"
    assert first_parent(tmp_path / "a.git", "main")[-2].sha == first[-1].sha


def test_an_npm_history_from_the_registry(tmp_path, registry):
    pkg = Package("npm", "circomlib-ml")
    found, note = releases(pkg, tmp_path / "cache")
    assert [r.version for r in found] == ["1.1.0", "1.3.0", "1.4.4"] and note == ""
    revisions = derive_history(pkg, found, tmp_path / "n.git")
    assert [r.label for r in revisions] == ["1.1.0", "1.3.0", "1.4.4"]
    assert revisions[-1].date == datetime(2023, 3, 3, 3, 3, 3, tzinfo=timezone.utc)


def _releases_framework(tmp_path: Path):
    path = tmp_path / "frameworks.yaml"
    path.write_text("version: 1\nframeworks:\n  - name: pkgfw\n    adapter: command\n    proof_system: x\n"
                    "    model_format: ONNX\n    history: {kind: releases, package: {registry: pypi, name: pkg}}\n"
                    "    build: {kind: none}\n    stages: {prove: 'true'}\n")
    return load_config(path).framework("pkgfw")


@pytest.mark.parametrize("answer", ["down", "500", "not json", "wrong shape", "missing fields"])
def test_an_unreachable_registry_falls_back_to_the_cached_list_and_says_so(tmp_path, registry, monkeypatch,
                                                                           answer):
    fw, cache = _releases_framework(tmp_path), tmp_path / "cache"
    first = open_history(fw, cache)
    assert first.status == [] and first.derived
    if answer == "down":
        monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", f"{_closed_port_url()}/pypi")
    else:
        registry.serve("/pypi/pkg/json", *{
            "500": ({"message": "oops"}, 500),
            "not json": (b"<html>maintenance</html>", 200),
            "wrong shape": ([1, 2, 3], 200),
            "missing fields": ({"releases": {"3.0.0": [{"filename": "pkg-3.0.0.tar.gz"}]}}, 200),
        }[answer])
    history = open_history(fw, cache)
    assert shas_of(history) == shas_of(first)
    assert len(history.status) == 1
    assert "pypi unreachable" in history.status[0] and "using the release list cached earlier" in history.status[0]


def test_an_unreachable_registry_without_a_cache_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", f"{_closed_port_url()}/pypi")
    with pytest.raises(RegistryError, match="pypi unreachable and no cached release list"):
        releases(PKG, tmp_path / "cache")
    fw = _releases_framework(tmp_path)
    with pytest.raises(HistoryError) as err:
        open_history(fw, tmp_path / "cache")
    assert str(err.value).startswith("history of pkgfw unavailable: pypi unreachable and no cached release list")
    # and through the command: the framework is skipped with that line, the run still ends normally
    status = main(["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache"),
                   "run", "--no-publish"])
    out = capsys.readouterr()
    assert status == 0
    assert "pkgfw: skipped: history of pkgfw unavailable: pypi unreachable" in out.out
    assert "Traceback" not in out.out + out.err


# --- selection -----------------------------------------------------------------------------------------

@pytest.fixture
def history(tmp_path, repo):
    path, shas = repo
    _git(path, "tag", "v1.0", shas[2])
    return open_history(framework(tmp_path, path), tmp_path / "cache"), shas


def test_pinned_by_sha_prefix_and_tag_in_history_order(history):
    h, shas = history
    assert [r.sha for r in select.pinned(h, [shas[7], "v1.0", shas[4][:8], shas[7][:12]])] == \
        [shas[2], shas[4], shas[7]]
    with pytest.raises(HistoryError, match="unknown revision"):
        select.pinned(h, ["deadbeef"])


def test_a_range_is_after_a_up_to_and_including_b(history):
    h, shas = history
    assert [r.sha for r in select.in_range(h, f"{shas[3]}..{shas[8]}")] == shas[4:9]
    assert [r.sha for r in select.in_range(h, f"v1.0..{shas[4][:10]}")] == shas[3:5]
    assert select.in_range(h, f"{shas[8]}..{shas[3]}") == []


@pytest.mark.parametrize("n, picks", [(1, [11]), (2, [0, 11]), (4, [0, 4, 7, 11]), (12, list(range(12))),
                                      (50, list(range(12)))])
def test_steps_spread_evenly_with_both_ends(history, n, picks):
    h, shas = history
    assert [r.sha for r in select.steps(h.revisions(), n)] == [shas[i] for i in picks]


def test_new_since_the_last_run_is_the_newest_unrecorded_ones_bounded(history):
    h, shas = history
    recorded = set(shas[:5]) | {shas[8]}
    assert [r.sha for r in select.new_since(h.revisions(), recorded, 50)] == shas[5:8] + shas[9:]
    assert [r.sha for r in select.new_since(h.revisions(), recorded, 2)] == shas[10:]
    assert select.new_since(h.revisions(), set(shas), 5) == []


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 20])
def test_shards_partition_the_revisions(history, n):
    h, shas = history
    parts = [select.shard(h.revisions(), i, n) for i in range(1, n + 1)]
    flat = [r.sha for p in parts for r in p]
    assert sorted(flat) == sorted(shas) and len(flat) == len(set(flat))
    for p in parts:
        assert [r.sha for r in p] == [s for s in shas if s in {r.sha for r in p}]  # history order kept
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1


def test_the_command_line_selections_combine_as_asv_users_expect(tmp_path, history):
    h, shas = history
    fw = framework(tmp_path, "unused", nightly_max=3)
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")

    def chosen(**kw) -> list[str]:
        return [r.sha for r in choose_revisions(fw, h, layout, Request(**kw))]

    assert chosen() == shas
    assert chosen(latest=3) == shas[-3:]
    assert chosen(revisions=["v1.0", shas[5]]) == [shas[2], shas[5]]
    assert chosen(range=f"{shas[0]}..{shas[6]}", steps=3) == [shas[1], shas[3], shas[6]]
    assert chosen(steps=4, shard=(2, 2)) == [shas[4], shas[11]]
    # new since the last run: an asv result and a recorded build failure both count as recorded
    machine = FrameworkStore(layout, "synth").asv / "m"
    machine.mkdir(parents=True)
    for sha in shas[:9]:
        (machine / f"{sha[:8]}-existing-py.json").write_text(json.dumps({"commit_hash": sha}))
    (machine / "machine.json").write_text(json.dumps({"machine": "m"}))
    FrameworkStore(layout, "synth").builds.mkdir(parents=True)
    (FrameworkStore(layout, "synth").builds / f"{shas[10]}.json").write_text("{}")
    assert chosen(new_only=True) == [shas[9], shas[11]]
    (machine / f"{shas[9][:8]}-existing-py.json").write_text("{torn")  # a torn file is not a record
    assert chosen(new_only=True) == [shas[9], shas[11]]
