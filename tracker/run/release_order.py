"""Results made on an older shape of a release history, moved to the commits their releases have now.

A release history's commits depend on their order (tracker.history.registry): a history derived in upload
order (before release lines), or one where a late release of a line came in before others of it, gave
some releases other commits than they have now. Their results are kept under those commits' shas, so
they would fall off the history: asv would graph nothing for them and the verdicts would skip them.

So before anything reads or writes a release history's results, each revision kept under a sha the
history no longer has, and whose release it does have (its version from revisions.json, or from the
commit in the derived repository), is moved to its release's commit: its records, its asv results, its
recorded build failure, its revisions.json entry, and the sha wherever the small state files name it
(confirmations, status, reported regressions). A release that now lies on an older line, off the
followed one, is set aside whole under `results/<framework>/other-lines/<version>/`, never judged beside
the newer line. It is said in one line; once moved there is nothing left to say.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tracker.fsutil import atomic_write_json, atomic_write_text, read_json
from tracker.history import History
from tracker.history.git import GitError, git
from tracker.layout import Layout
from tracker.store.formats import OTHER_LINE_VERSION
from tracker.store.paths import CONFIRMATIONS_FILE, REPORTED_FILE, STATUS_FILE, FrameworkStore
from tracker.store.state import revision_entry, revisions_path
from tracker.types import Say

STATE_FILES = (CONFIRMATIONS_FILE, STATUS_FILE, REPORTED_FILE)


def follow_release_order(layout: Layout, framework: str, history: History, say: Say) -> None:
    """Move the results of every release whose commit changed; say it once."""
    if not history.derived:
        return
    moves = _moves(layout, framework, history)
    if not moves:
        return
    on_line = {r.version: r for r in history.revisions()}
    moved, set_aside = [], []
    for old, version in sorted(moves.items(), key=lambda m: m[1]):
        if version in on_line:
            _move(layout, framework, old, on_line[version].sha)
            _rename_in_state(layout, framework, old, on_line[version].sha, on_line[version])
            moved.append(version)
        else:
            _set_aside(layout, framework, old, version)
            set_aside.append(version)
    said = f"{framework}: the release history is in version order, each release line on its own branch"
    if moved:
        said += f"; the results of {len(moved)} release(s) moved to their new commits ({_few(moved)})"
    if set_aside:
        said += (f"; {len(set_aside)} release(s) of older lines ({_few(set_aside)}) set aside in "
                 f"{layout.results / framework / 'other-lines'}, off the followed line")
    say(said)


def _few(versions: list[str]) -> str:
    return ", ".join(versions[:5]) + (f" and {len(versions) - 5} more" if len(versions) > 5 else "")


def _moves(layout: Layout, framework: str, history: History) -> dict[str, str]:
    """old sha -> version, for each revision kept whose release now has another commit (or none on `main`)."""
    known = {r.sha for r in history.revisions()}
    entries = (read_json(revisions_path(layout, framework)) or {}).get("revisions", {})
    entries = entries if isinstance(entries, dict) else {}
    versions = {r.version for r in history.revisions()} | set(history.other_lines)
    out = {}
    for sha in _kept_shas(layout, framework) - known:
        info = entries.get(sha) if isinstance(entries.get(sha), dict) else {}
        version = info.get("version") or _version_in_repo(history.repo_path, sha)
        if version in versions and history.other_lines.get(version) != sha:
            out[sha] = version
    return out


def _kept_shas(layout: Layout, framework: str) -> set[str]:
    store = FrameworkStore(layout, framework)
    shas = set(store.recorded_shas()) | {p.stem for p in store.build_failures()}
    entries = (read_json(revisions_path(layout, framework)) or {}).get("revisions", {})
    return shas | (set(entries) if isinstance(entries, dict) else set())


def _version_in_repo(repo: Path, sha: str) -> str | None:
    """The version a derived commit was made for (its RELEASE.json), if the repository still holds it."""
    try:
        return json.loads(git("show", f"{sha}:RELEASE.json", git_dir=repo)).get("version")
    except (GitError, ValueError, AttributeError):
        return None


def _move(layout: Layout, framework: str, old: str, new: str) -> None:
    """Records, asv results and a build failure of `old`, now under `new` (a record already there is kept)."""
    store = FrameworkStore(layout, framework)
    src, dst = store.record_dir(old), store.record_dir(new)
    for path in sorted(src.glob("*.json")):
        data = read_json(path)
        target = dst / path.name
        if isinstance(data, dict) and not target.exists():
            atomic_write_json(target, {**data, "revision": new})
        path.unlink()
    if src.is_dir() and not any(src.iterdir()):
        src.rmdir()
    for path in _asv_results_of(layout, framework, old):
        data = read_json(path)
        atomic_write_json(path.with_name(new[:8] + path.name[8:]), {**data, "commit_hash": new})
        path.unlink()
    build = store.build_failure(old)
    if build.exists():
        data = read_json(build)
        atomic_write_json(build.with_name(f"{new}.json"), {**data, "revision": new} if isinstance(data, dict) else data)
        build.unlink()


def _asv_results_of(layout: Layout, framework: str, sha: str) -> list[Path]:
    out = []
    for path in FrameworkStore(layout, framework).asv_result_files(sha):
        data = read_json(path)
        if isinstance(data, dict) and data.get("commit_hash") == sha:
            out.append(path)
    return out


def _rename_in_state(layout: Layout, framework: str, old: str, new: str, revision) -> None:
    """revisions.json's entry under `new`, as the history has it now; `old` replaced in the state files."""
    path = revisions_path(layout, framework)
    known = read_json(path)
    if isinstance(known, dict) and isinstance(known.get("revisions"), dict) and old in known["revisions"]:
        known["revisions"].pop(old)
        known["revisions"][new] = revision_entry(revision)
        atomic_write_json(path, known)
    for state in [*(FrameworkStore(layout, framework).root / name for name in STATE_FILES), layout.results / STATE_FILES[2]]:
        try:
            text = state.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if old in text:
            atomic_write_text(state, text.replace(old, new))


def _set_aside(layout: Layout, framework: str, old: str, version: str) -> None:
    """Everything kept for `old` moved under other-lines/<version>/, and its revisions.json entry with it."""
    store = FrameworkStore(layout, framework)
    into = store.other_line(version)
    records = store.record_dir(old)
    if records.is_dir():
        (into / "records").mkdir(parents=True, exist_ok=True)
        shutil.move(str(records), str(into / "records" / old))
    for path in _asv_results_of(layout, framework, old):
        (into / "asv" / path.parent.name).mkdir(parents=True, exist_ok=True)
        os.replace(path, into / "asv" / path.parent.name / path.name)
    build = store.build_failure(old)
    if build.exists():
        into.mkdir(parents=True, exist_ok=True)
        os.replace(build, into / build.name)
    path = revisions_path(layout, framework)
    known = read_json(path)
    if isinstance(known, dict) and isinstance(known.get("revisions"), dict) and old in known["revisions"]:
        atomic_write_json(into / "revision.json", {"version": OTHER_LINE_VERSION, "sha": old, "entry": known["revisions"].pop(old)})
        atomic_write_json(path, known)
