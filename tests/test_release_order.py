"""Release histories in version order, one branch per release line, on a localhost registry answering with
ezkl's real upload-time interleaving (23.0.3 at 14:51, 23.0.2 at 14:53, 22.3.0 at 15:00 on 2025-11-12),
and the results of an older history's shape moved to the commits their releases have now.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from asv.plugins.git import Git
from packaging.version import Version

from tests.test_history import PKG, Registry, _pypi_files
from tracker import records
from tracker.cli import main
from tracker.adapters import load_config
from tracker.history import HistoryError, open_history
from tracker.history.git import git, tags_at
from tracker.history.registry import DATES_DISORDER_MAX, Release, ReleaseCommit, dates_disorder, derive_history
from tracker.layout import Layout
from tracker.run.context import open_framework
from tracker.run.runner import Request, choose_revisions
from tracker.types import Package
from tracker.store.paths import FrameworkStore

UPLOADS = {  # version -> upload time of its first file, as PyPI gives them for ezkl (the installable ones)
    "22.1.7": "2025-07-25T14:09:19.406555Z", "22.2.1": "2025-07-30T19:24:00.284509Z",
    "22.2.4": "2025-10-07T19:25:41.279801Z", "23.0.3": "2025-11-12T14:51:52.650033Z",
    "23.0.2": "2025-11-12T14:53:29.120831Z", "22.3.0": "2025-11-12T15:00:09.078399Z",
    "23.0.5": "2026-02-20T20:15:05.170262Z",
}
FOLLOWED = ["22.1.7", "22.2.1", "22.2.4", "23.0.2", "23.0.3", "23.0.5"]


def pypi_answer(uploads: dict[str, str]) -> dict:
    return {"releases": {v: _pypi_files(v, when) for v, when in uploads.items()}}


@pytest.fixture
def pypi(monkeypatch):
    r = Registry()
    monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", f"{r.url}/pypi")
    r.serve("/pypi/pkg/json", pypi_answer(UPLOADS))
    yield r
    r.close()


def releases_config(tmp_path: Path, latest: int | None = None) -> Path:
    path = tmp_path / "frameworks.yaml"
    select = f", select: {{latest: {latest}}}" if latest else ""
    path.write_text("version: 1\nframeworks:\n  - name: pkgfw\n    adapter: command\n    proof_system: x\n"
                    f"    model_format: ONNX\n    history: {{kind: releases, package: {{registry: pypi, name: pkg}}"
                    f"{select}}}\n    build: {{kind: none}}\n    stages: {{prove: 'true'}}\n")
    return path


def test_the_followed_history_is_in_version_order_and_a_backport_is_on_its_own_line(tmp_path, pypi):
    fw = load_config(releases_config(tmp_path)).framework("pkgfw")
    history = open_history(fw, tmp_path / "cache")
    assert [r.label for r in history.revisions()] == FOLLOWED
    assert [r.line for r in history.revisions()] == ["22.1", "22.2", "22.2", "23.0", "23.0", "23.0"]
    assert list(history.other_lines) == ["22.3.0"]
    repo, tags = history.repo_path, tags_at(history.repo_path)
    # the backport's line starts from the newest older release out before it, 22.2.4, not from 23.0.2
    assert git("rev-parse", "refs/heads/line/22.3^", git_dir=repo).strip() == tags["22.2.4"]
    assert git("rev-parse", "refs/heads/line/22.3", git_dir=repo).strip() == tags["22.3.0"]
    assert git("rev-parse", "refs/heads/line/23.0", git_dir=repo).strip() == tags["23.0.5"]
    # the 23.0 line began from 22.2.4; each release is dated with its upload, even where that runs backwards
    assert git("rev-parse", f"{tags['23.0.2']}^", git_dir=repo).strip() == tags["22.2.4"]
    dates = {r.label: r.date for r in history.revisions()}
    assert dates["23.0.3"] == datetime(2025, 11, 12, 14, 51, 52, tzinfo=timezone.utc) < dates["23.0.2"]


def test_asvs_own_axis_reads_in_version_order(tmp_path, pypi):
    """What asv publish does: the branch's commits, placed by `rev-list --all --date-order` (git.py)."""
    fw = load_config(releases_config(tmp_path)).framework("pkgfw")
    history = open_history(fw, tmp_path / "cache")
    asv_git = Git(str(history.repo_path), str(history.repo_path))
    on_branch = asv_git.get_branch_commits("main")
    axis = asv_git.get_revisions(set(on_branch))
    label = {sha: version for version, sha in tags_at(history.repo_path).items()}
    assert [label[sha] for sha in sorted(axis, key=axis.get)] == FOLLOWED
    assert history.other_lines["22.3.0"] not in on_branch


def test_latest_and_the_nightlys_new_release_follow_the_newest_line(tmp_path, pypi):
    fw = load_config(releases_config(tmp_path, latest=3)).framework("pkgfw")
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    history = open_history(fw, layout.cache)
    assert [r.label for r in choose_revisions(fw, history, layout, Request())] == ["23.0.2", "23.0.3", "23.0.5"]
    before = {r.label: r.sha for r in history.revisions()}
    # a backport to 22.3 adds nothing to the followed line; a new 23.0 release adds exactly one commit
    pypi.serve("/pypi/pkg/json", pypi_answer({**UPLOADS, "22.3.1": "2026-03-01T10:00:00Z",
                                              "23.0.6": "2026-03-02T10:00:00Z"}))
    after = open_history(fw, layout.cache)
    assert [r.label for r in after.revisions()] == [*FOLLOWED, "23.0.6"]
    assert {r.label: r.sha for r in after.revisions()[:-1]} == before
    assert set(after.other_lines) == {"22.3.0", "22.3.1"}
    machine = FrameworkStore(layout, "pkgfw").asv / "m"
    machine.mkdir(parents=True)
    for label, sha in before.items():
        (machine / f"{sha[:8]}-existing-py3.11.json").write_text(json.dumps({"commit_hash": sha}))
    assert [r.label for r in choose_revisions(fw, after, layout, Request(new_only=True))] == ["23.0.6"]


def test_a_release_of_an_older_line_is_refused_by_name_with_why(tmp_path, pypi):
    fw = load_config(releases_config(tmp_path)).framework("pkgfw")
    history = open_history(fw, tmp_path / "cache")
    for name in ("22.3.0", "v22.3.0"):
        with pytest.raises(HistoryError, match="22.3.0 is a release of the older line 22.3, kept on its own "
                                               "branch off the followed line 23.0"):
            history.resolve(name)


def test_the_same_releases_give_the_same_commits_and_a_yanked_release_keeps_its_place(tmp_path, pypi):
    fw = load_config(releases_config(tmp_path)).framework("pkgfw")
    first = open_history(fw, tmp_path / "cache")
    elsewhere = open_history(fw, tmp_path / "cache2")
    assert [r.sha for r in elsewhere.revisions()] == [r.sha for r in first.revisions()]
    pypi.serve("/pypi/pkg/json", pypi_answer({v: t for v, t in UPLOADS.items() if v != "22.2.1"}))
    again = open_history(fw, tmp_path / "cache")
    assert [r.sha for r in again.revisions()] == [r.sha for r in first.revisions()]


# --- results made on the older shape (upload order) ------------------------------------------------------

def upload_order_history(repo: Path) -> dict[str, str]:
    """The derived repository as the tracker made it before release lines: one chain in upload order."""
    git("init", "--quiet", "--bare", "--initial-branch=main", str(repo))
    package, parent, shas = Package("pypi", "pkg"), None, {}
    for version, when in sorted(UPLOADS.items(), key=lambda kv: kv[1]):
        commit = ReleaseCommit.of(package, Release(version, datetime.fromisoformat(when.replace("Z", "+00:00"))),
                                  parent)
        commit.write(repo)
        git("tag", version, commit.sha, git_dir=repo)
        parent = shas[version] = commit.sha
    git("update-ref", "refs/heads/main", parent, git_dir=repo)
    return shas


def keep_results(layout: Layout, shas: dict[str, str], with_versions: bool) -> None:
    """Records, asv results and revisions.json for every release, as a run on the old shape left them."""
    entries = {}
    for position, (version, sha) in enumerate(sorted(shas.items(), key=lambda kv: UPLOADS[kv[0]]), start=1):
        records.save(FrameworkStore(layout, "pkgfw").records, records.ModelResult("pkgfw", sha, "linear", "default",
                                                                   sizes={"proof_bytes": 1000 + position}))
        (FrameworkStore(layout, "pkgfw").asv / "m").mkdir(parents=True, exist_ok=True)
        (FrameworkStore(layout, "pkgfw").asv / "m" / f"{sha[:8]}-existing-py3.11.json").write_text(
            json.dumps({"commit_hash": sha, "date": 0, "results": {}}))
        entries[sha] = {"label": version, "date": UPLOADS[version], "subject": "", "upstream_sha": None,
                        "version": version if with_versions else None, "position": position}
    (layout.results / "pkgfw" / "revisions.json").write_text(json.dumps({"version": 1, "revisions": entries}))
    (layout.results / "pkgfw" / "confirmations.json").write_text(json.dumps(
        {"version": 1, "pairs": {f"linear|default|{shas['23.0.3']}|{shas['23.0.2']}": {"verdict": "noise"}}}))


@pytest.mark.parametrize("versions_from", ["revisions.json", "the derived commits"])
def test_results_of_the_upload_order_shape_move_to_their_releases_said_once(tmp_path, pypi, versions_from):
    config = load_config(releases_config(tmp_path))
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    old = upload_order_history(layout.cache / "derived" / "pkgfw.git")
    keep_results(layout, old, with_versions=versions_from == "revisions.json")
    said: list[str] = []
    ctx = open_framework(config, layout, config.framework("pkgfw"), said.append)
    now = {r.label: r for r in ctx.history.revisions()}
    assert [line for line in said if "version order" in line] == [
        "pkgfw: the release history is in version order, each release line on its own branch; the results "
        "of 3 release(s) moved to their new commits (23.0.2, 23.0.3, 23.0.5); 1 release(s) of older lines "
        f"(22.3.0) set aside in {layout.results / 'pkgfw' / 'other-lines'}, off the followed line"]
    kept = json.loads((layout.results / "pkgfw" / "revisions.json").read_text())["revisions"]
    assert set(kept) == {r.sha for r in now.values()}
    assert [kept[now[v].sha]["position"] for v in FOLLOWED] == list(range(1, 7))
    for version, r in now.items():  # every record under its release's commit now, with the same figures
        (rec,) = records.load_revision(FrameworkStore(layout, "pkgfw").records, r.sha)
        assert rec.revision == r.sha and rec.sizes["proof_bytes"] == 1000 + sorted(UPLOADS, key=UPLOADS.get).index(version) + 1
        (asv_file,) = (FrameworkStore(layout, "pkgfw").asv / "m").glob(f"{r.sha[:8]}-*.json")
        assert json.loads(asv_file.read_text())["commit_hash"] == r.sha
    aside = layout.results / "pkgfw" / "other-lines" / "22.3.0"
    assert (aside / "records" / old["22.3.0"] / "linear--default.json").exists()
    assert json.loads((aside / "revision.json").read_text())["sha"] == old["22.3.0"]
    assert old["22.3.0"] not in (layout.results / "pkgfw" / "revisions.json").read_text()
    pairs = json.loads((layout.results / "pkgfw" / "confirmations.json").read_text())["pairs"]
    assert list(pairs) == [f"linear|default|{now['23.0.3'].sha}|{now['23.0.2'].sha}"]
    again: list[str] = []
    open_framework(config, layout, config.framework("pkgfw"), again.append)
    assert not [line for line in again if "version order" in line]


def test_run_of_an_older_lines_release_is_a_usage_error(tmp_path, pypi, capsys):
    config = releases_config(tmp_path)
    status = main(["--config", str(config), "--cache", str(tmp_path / "cache"), "run", "--no-publish",
                   "-r", "22.3.0"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip().splitlines() == [
        "zkml-tracker: --revision 22.3.0: pkgfw: 22.3.0 is a release of the older line 22.3, kept on its own branch "
        "off the followed line 23.0 so that it is never judged against newer releases"]


# --- a registry whose upload dates do not follow its versions -------------------------------------------

SCRAMBLED = {  # o1js as this machine's npm registry dates it: the dates of its copies, not of the releases
    "0.12.1": "2026-04-01T09:59:31Z", "0.15.1": "2026-03-21T18:56:40Z", "0.18.0": "2024-12-09T01:41:22Z",
    "1.1.0": "2024-12-12T23:33:11Z", "1.2.0": "2026-03-26T07:44:12Z", "1.8.0": "2024-12-13T00:44:55Z",
    "2.0.0": "2024-12-13T01:09:34Z", "2.10.0": "2025-10-06T13:55:19Z", "2.15.0": "2026-05-05T22:47:53Z",
}


def _releases_of(uploads: dict[str, str]) -> list[Release]:
    return [Release(v, datetime.fromisoformat(t.replace("Z", "+00:00"))) for v, t in uploads.items()]


def test_the_share_of_release_pairs_uploaded_against_their_versions():
    # ezkl's interleaving: 22.3.0 after 23.0.2 and 23.0.3, 23.0.2 after 23.0.3: 3 of 21 pairs
    assert dates_disorder(_releases_of(UPLOADS)) == pytest.approx(3 / 21)
    assert dates_disorder(_releases_of(UPLOADS)) <= DATES_DISORDER_MAX
    assert dates_disorder(_releases_of(SCRAMBLED)) > 0.3 and dates_disorder(_releases_of(SCRAMBLED)) > DATES_DISORDER_MAX
    assert dates_disorder(_releases_of({"1.0.0": "2024-01-01T00:00:00Z"})) == 0.0


def test_releases_dated_against_their_versions_are_followed_in_version_order_all_of_them(tmp_path, pypi):
    """Where the dates say nothing of the order, no release is taken for a backport: the followed history
    holds every release in version order (upload times would have put 1.x off it), and the run says why."""
    pypi.serve("/pypi/pkg/json", pypi_answer(SCRAMBLED))
    fw = load_config(releases_config(tmp_path)).framework("pkgfw")
    history = open_history(fw, tmp_path / "cache")
    ordered = sorted(SCRAMBLED, key=Version)
    assert [r.label for r in history.revisions()] == ordered and not history.other_lines
    assert any("upload dates do not follow the versions" in note and "by version alone" in note
               for note in history.status)
    repo, tags = history.repo_path, tags_at(history.repo_path)
    assert git("rev-parse", f"{tags['1.1.0']}^", git_dir=repo).strip() == tags["0.18.0"]


def test_the_note_and_the_chain_judge_the_same_releases_those_derived_before_included(tmp_path):
    """A registry that stops listing its scrambled releases leaves them in the derived repository, where the
    chain still places them by version: the run must still say so, not judge the few it lists today."""
    repo = tmp_path / "d.git"
    derive_history(PKG, _releases_of(SCRAMBLED), repo)
    today = {v: SCRAMBLED[v] for v in ("0.18.0", "1.1.0", "2.0.0")}   # in order on their own
    assert dates_disorder(_releases_of(today)) <= DATES_DISORDER_MAX
    notes: list[str] = []
    revisions = derive_history(PKG, _releases_of(today), repo, notes)
    assert [r.label for r in revisions] == sorted(SCRAMBLED, key=Version)
    assert len(notes) == 1 and "by version alone" in notes[0]
    fresh: list[str] = []
    derive_history(PKG, _releases_of(today), tmp_path / "e.git", fresh)
    assert fresh == []      # alone, their dates follow their versions: nothing to say, backports told apart
