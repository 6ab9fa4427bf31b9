"""The tracker's own state files, checked before a run writes to them: torn ones set aside and rebuilt.

Every state file is written atomically (tracker/fsutil.py), so a torn one means something outside the
tracker cut it (a disk filling, a copy interrupted, a hand edit). Read as "missing" it would be worse
than lost: the next write would keep only what that run adds. So a torn file is renamed `*.torn` (kept
for a post-mortem), said in one line, and rebuilt from what the mirror and the other files still hold:
`revisions.json` from the history (labels, dates, subjects) for every revision that has a record or an
asv result; a record by proving that model again.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from tracker import records
from tracker.fsutil import atomic_write_json, read_json, read_state
from tracker.history.revisions import Revision
from tracker.layout import Layout
from tracker.records import Status
from tracker.types import Say

REVISIONS_VERSION = 1


def revisions_path(layout: Layout, framework: str) -> Path:
    return layout.results / framework / "revisions.json"


def revision_entry(revision: Revision) -> dict:
    return {"label": revision.label, "date": revision.date.isoformat(), "subject": revision.subject,
            "version": revision.version, "upstream_sha": revision.upstream_sha,
            "position": revision.position, "line": revision.line}


def history_order(info: dict) -> tuple:
    """Where a revision lies on its history: its position along the branch (topological, whatever the
    commit dates say); entries kept before positions were recorded come first, by date."""
    position = info.get("position")
    return (isinstance(position, int), position if isinstance(position, int) else 0, info.get("date", ""))


def recorded_revisions(layout: Layout, framework: str, with_asv: bool) -> dict[str, str]:
    """sha -> the date asv filed it under ('' if not read) for every revision something was kept for.

    Every revision asv has a result for has a records dir too (records are made first), so asv's result
    files, the costly part to read, are read only when the index is being rebuilt from nothing."""
    found: dict[str, str] = {}
    for path in layout.records(framework).glob("*"):
        if path.is_dir():
            found.setdefault(path.name, "")
    for path in layout.asv_results(framework).glob("*/*.json") if with_asv else ():
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("commit_hash"), str):
            found[data["commit_hash"]] = _asv_date(data.get("date"))
    return found


def _asv_date(ms) -> str:
    """asv keeps the commit date in milliseconds since the epoch."""
    if not isinstance(ms, (int, float)):
        return ""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def load_revisions(layout: Layout, framework: str, history_revisions: Iterable[Revision], say: Say) -> dict:
    """revisions.json with an entry for every revision kept; torn or short of some, rebuilt and said."""
    path = revisions_path(layout, framework)
    known, torn = read_state(path)
    whole = isinstance(known, dict) and isinstance(known.get("revisions"), dict)
    if not whole:
        known = {"version": REVISIONS_VERSION, "revisions": {}}
    kept = recorded_revisions(layout, framework, with_asv=torn or not whole)
    missing = {sha: date for sha, date in kept.items() if sha not in known["revisions"]}
    if not missing and not torn:
        return known
    by_sha = {r.sha: r for r in history_revisions}
    for sha, date in missing.items():
        rev = by_sha.get(sha)
        known["revisions"][sha] = revision_entry(rev) if rev else \
            {"label": sha[:8], "date": date, "subject": "", "version": None, "upstream_sha": None}
    atomic_write_json(path, known)
    found = sum(sha in by_sha for sha in missing)
    what = f"revisions.json was torn: set aside as {path.name}.torn;" if torn else "revisions.json lacked"
    say(f"{framework}: {what} {len(missing)} revision(s) written again, {found} with label, date and "
        f"subject from the history{'' if found == len(missing) else ', the others by sha alone'}")
    return known


def remember(layout: Layout, framework: str, revision: Revision, history_revisions: Iterable[Revision],
             say: Say) -> None:
    """Add one revision run to revisions.json, never writing back less than it held."""
    known = load_revisions(layout, framework, history_revisions, say)
    known["revisions"][revision.sha] = revision_entry(revision)
    atomic_write_json(revisions_path(layout, framework), known)


def check_status(layout: Layout, framework: str, say: Say) -> None:
    """status.json is the last run's summary, written again by this run; a torn one is set aside and said."""
    path = layout.results / framework / "status.json"
    _, torn = read_state(path)
    if torn:
        say(f"{framework}: status.json was torn: set aside as status.json.torn; this run writes it again")


def check_records(layout: Layout, framework: str, revision: str, wanted: Iterable[tuple[str, str]],
                  say: Say) -> list[str]:
    """The (model, variant) records of a revision that are torn now, or were set aside torn and not yet
    written again: they are to be proved again. A torn one found now is set aside and said."""
    redo = []
    for model, variant in wanted:
        path = records.record_path(layout.records(framework), revision, model, variant)
        _, torn = records.check(path)
        if torn:
            say(f"{framework} {revision[:8]}: record {path.name} was torn: set aside as {path.name}.torn; "
                f"{model} [{variant}] is proved again")
        if torn or (not path.exists() and path.with_name(path.name + ".torn").exists()):
            redo.append(f"{model}[{variant}]")
    return redo


def stale_failures(layout: Layout, framework: str, revision: str, keys: dict[str, str],
                   models: Iterable[str]) -> list[str]:
    """Failed records made under another config than today's (see records.record_key)."""
    stale = []
    for model in models:
        for variant, key in keys.items():
            rec = records.load(records.record_path(layout.records(framework), revision, model, variant))
            if rec is not None and rec.status != Status.OK and not records.is_current(rec, key):
                stale.append(f"{model}[{variant}]")
    return stale
