"""The tracker's own state files, checked before a run writes to them: torn ones set aside and rebuilt.

Every state file is written atomically (tracker/fsutil.py), so a torn one means something outside the
tracker cut it (a disk filling, a copy interrupted, a hand edit). Read as "missing" it would be worse
than lost: the next write would keep only what that run adds. So a torn file is renamed `*.torn` (kept
for a post-mortem), said in one line, and rebuilt from what the mirror and the other files still hold:
`revisions.json` from the history (labels, dates, subjects) for every revision that has a record or an
asv result; a record by proving that model again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from tracker import records
from tracker.fsutil import atomic_write_json, read_json, read_state, set_aside
from tracker.history.git import GitError, first_parent, head_ref, kept_ref
from tracker.history.revisions import Revision
from tracker.layout import Layout
from tracker.records import Status
from tracker.lock import held
from tracker.store.formats import BUILD_FAILURE_VERSION, REVISIONS_VERSION, STATUS_VERSION
from tracker.store.paths import FrameworkStore
from tracker.types import Framework, Say


def revisions_path(layout: Layout, framework: str) -> Path:
    return FrameworkStore(layout, framework).revisions


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
    store = FrameworkStore(layout, framework)
    found: dict[str, str] = dict.fromkeys(store.recorded_shas(), "")
    for path in store.asv_result_files() if with_asv else ():
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
    known, problem = read_index(path)
    rebuilt, missing, found = rebuild_revisions(layout, framework, known, problem, lambda: history_revisions)
    if missing or problem in ("torn", "malformed"):
        write_rebuilt(path, problem, rebuilt, len(missing), found, say)
    return rebuilt


def write_rebuilt(path: Path, problem: str, rebuilt: dict, missing: int, found: int, say: Say) -> None:
    """Write the rebuilt index (a bad one set aside first) and say so in one line."""
    if problem in ("torn", "malformed"):
        set_aside(path)
    atomic_write_json(path, rebuilt)
    what = f"revisions.json was {problem}" + (f": set aside as {path.name}.torn;" if problem != "missing" else ";") \
        if problem else "revisions.json lacked"
    say(f"{path.parent.name}: {what} {missing} revision(s) written again, {found} with label, date and "
        f"subject from the history{'' if found == missing else ', the others by sha alone'}")


def read_index(path: Path) -> tuple[dict | None, str]:
    """(revisions.json, "") when whole; else (None, what is wrong). Nothing is moved here."""
    data, problem = peek(path)
    if problem:
        return None, problem
    whole = isinstance(data, dict) and isinstance(data.get("revisions"), dict) and \
        all(isinstance(v, dict) for v in data["revisions"].values())
    return (data, "") if whole else (None, "malformed")


def peek(path: Path) -> tuple[object | None, str]:
    """(a state file's JSON, "") or (None, what is wrong): "missing", or "torn" (not JSON: cut short,
    emptied, garbage). Unlike fsutil.read_state, nothing is set aside: a reader without the lock only looks."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    try:
        return json.loads(data.decode("utf-8")), ""
    except ValueError:  # not JSON, or not UTF-8 at all (UnicodeDecodeError is a ValueError)
        return None, "torn"


def rebuild_revisions(layout: Layout, framework: str, known: dict | None, problem: str,
                      history: Callable[[], Iterable[Revision]]) -> tuple[dict, dict[str, str], int]:
    """(the index with every revision kept, the entries it lacked, how many of those the history named).
    The history is asked for only when something is lacking; nothing is written here."""
    known = known if known is not None else {"version": REVISIONS_VERSION, "revisions": {}}
    kept = recorded_revisions(layout, framework, with_asv=bool(problem))
    missing = {sha: date for sha, date in kept.items() if sha not in known["revisions"]}
    if not missing:
        return known, missing, 0
    by_sha = {r.sha: r for r in history()}
    for sha, date in missing.items():
        rev = by_sha.get(sha)
        known["revisions"][sha] = revision_entry(rev) if rev else \
            {"label": sha[:8], "date": date, "subject": "", "version": None, "upstream_sha": None}
    return known, missing, sum(sha in by_sha for sha in missing)


def remember(layout: Layout, framework: str, revision: Revision, history_revisions: Iterable[Revision],
             say: Say) -> None:
    """Add one revision run to revisions.json, never writing back less than it held."""
    known = load_revisions(layout, framework, history_revisions, say)
    known["revisions"][revision.sha] = revision_entry(revision)
    atomic_write_json(revisions_path(layout, framework), known)


def check_status(layout: Layout, framework: str, say: Say) -> None:
    """status.json is the last run's summary, written again by this run; a torn one is set aside and said."""
    _, torn = read_state(FrameworkStore(layout, framework).status)
    if torn:
        say(f"{framework}: status.json was torn: set aside as status.json.torn; this run writes it again")


def check_records(layout: Layout, framework: str, revision: str, wanted: Iterable[tuple[str, str]],
                  say: Say) -> list[str]:
    """The (model, variant) records of a revision that are torn now, or were set aside torn and not yet
    written again: they are to be proved again. A torn one found now is set aside and said."""
    redo = []
    for model, variant in wanted:
        path = FrameworkStore(layout, framework).record(revision, model, variant)
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
            rec = records.load(FrameworkStore(layout, framework).record(revision, model, variant))
            if rec is not None and rec.status != Status.OK and not records.is_current(rec, key):
                stale.append(f"{model}[{variant}]")
    return stale


# --- the state as a command that reads finds it ------------------------------------------------------------

def cached_history(fw: Framework, cache: Path) -> list[Revision]:
    """The framework's revisions as far as the cache already holds its history (the mirror, or the history
    derived from a registry), never fetched: what a reader names rebuilt revisions by. [] when none is cached."""
    from tracker.history.registry import revisions_of
    from tracker.history.source import mirror_path

    try:
        if fw.history.kind != "commits":
            repo = cache / "derived" / f"{fw.name}.git"
            return revisions_of(repo, fw.history.package) if repo.is_dir() else []
        mirror = mirror_path(fw, cache)
        for ref in (head_ref(fw.history.branch), kept_ref(fw.history.branch)):
            if mirror.is_dir():
                try:
                    return first_parent(mirror, ref)
                except GitError:
                    continue
    except GitError:
        pass
    return []


@dataclass
class StateRead:
    """The tracker's state files as a reading command (regressions, list, the site) finds them, each read
    once a command.

    A state file torn (cut short, emptied, garbage), of the wrong shape, deleted, or an index lacking
    revisions that have records is said in one line and rebuilt from what is on disk: written back, the
    bad copy set aside as `*.torn`, only by a process holding the results lock (nightly, publish,
    `regressions --confirm`); a reader that takes no lock rebuilds it in memory and leaves the writing to
    the next run or publish. What can be neither read nor rebuilt (a torn record, an order no history
    gives) is listed in `unreadable`, so that nothing reads "no regressions" on evidence it could not read.
    """

    layout: Layout
    say: Say = print
    unreadable: list[str] = field(default_factory=list)
    _revisions: dict[str, dict] = field(default_factory=dict)
    _said: set[str] = field(default_factory=set)

    @property
    def writes(self) -> bool:
        return held(self.layout.results)

    def tell(self, line: str) -> None:
        """Say a line once a command, however often the same file is read."""
        if line not in self._said:
            self._said.add(line)
            self.say(line)

    def revisions(self, fw: Framework) -> dict[str, dict]:
        """sha -> label, date, subject, position: every revision of `fw` something was kept for."""
        if fw.name not in self._revisions:
            self._revisions[fw.name] = self._read_revisions(fw)
        return self._revisions[fw.name]

    def _read_revisions(self, fw: Framework) -> dict[str, dict]:
        """Written back under the lock when the cached history names every revision rebuilt; else (no lock,
        or no history to name them) rebuilt in memory: the next run or publish, with the history, writes it."""
        path = revisions_path(self.layout, fw.name)
        known, problem = read_index(path)
        history = lambda: cached_history(fw, self.layout.cache)  # noqa: E731 - asked only when needed
        rebuilt, missing, found = rebuild_revisions(self.layout, fw.name, known, problem, history)
        if self.writes and found == len(missing) and (missing or problem in ("torn", "malformed")):
            write_rebuilt(path, problem, rebuilt, len(missing), found, self.tell)
        elif missing:
            what = f"was {problem}" if problem else f"lacked {len(missing)} revision(s) that have records"
            self.tell(f"{fw.name}: revisions.json {what}: {len(missing)} revision(s) read from the records, {found} "
                      f"named by the cached history; written again by the next run or publish")
        elif problem in ("torn", "malformed"):
            self.tell(f"{fw.name}: revisions.json was {problem}, and nothing is kept for {fw.name} yet")
        return rebuilt["revisions"]

    def order(self, fw: Framework) -> list[str] | None:
        """The revisions oldest first along the history; None (said, and listed unreadable) when revisions
        rebuilt without a cached history or an asv result have no place on it."""
        known = self.revisions(fw)
        lost = [sha for sha, info in known.items() if not isinstance(info.get("position"), int)
                and not info.get("date")]
        if lost and len(known) > 1:
            self.unread(f"{fw.name}: revisions.json")
            self.tell(f"{fw.name}: {len(lost)} revision(s) have no place in the history (no history cached, no "
                     f"asv result): no verdict on {fw.name} until `run` or `publish` rebuilds revisions.json")
            return None
        return sorted(known, key=lambda sha: history_order(known[sha]))

    def status(self, fw: Framework) -> dict | None:
        """The last run's status.json, or None when there is none or it cannot be read (said)."""
        path = FrameworkStore(self.layout, fw.name).status
        data, problem = peek(path)
        if problem == "missing" or isinstance(data, dict):
            return data
        problem = problem or "malformed"
        if self.writes:
            set_aside(path)
        fate = "set aside as status.json.torn" if self.writes else "the next run writes it again"
        self.tell(f"{fw.name}: status.json was {problem}: {fate}; its state is read from its records")
        return None

    def records_unreadable(self, fw: Framework, paths: Iterable[Path]) -> None:
        """Say each record that could not be read (torn, or set aside torn and not proved again yet)."""
        for path in paths:
            sha = path.parent.name
            label = self.revisions(fw).get(sha, {}).get("label") or sha[:8]
            name = path.name.removesuffix(".torn")
            self.unread(f"{fw.name}: {sha[:8]}/{name}")
            self.tell(f"{fw.name}: record {sha[:8]}/{name} "
                     + ("was set aside torn and is not proved again yet" if path.name.endswith(".torn")
                        else "is unreadable (torn, or of another format)")
                     + f": {name.removesuffix('.json').replace('--', ' [')}] is judged without {label} until a "
                       f"run proves it again")

    def unread(self, what: str) -> None:
        if what not in self.unreadable:
            self.unreadable.append(what)


# --- the run's own state: its summary and its build failures ---------------------------------------------

def save_status(store: FrameworkStore, summary: dict) -> None:
    """status.json: what the framework's last run found (written whole, atomically)."""
    atomic_write_json(store.status, {"version": STATUS_VERSION, **summary})


def save_build_failure(store: FrameworkStore, sha: str, failure: dict) -> None:
    atomic_write_json(store.build_failure(sha), {"version": BUILD_FAILURE_VERSION, "revision": sha, **failure})


def forget_build_failure(store: FrameworkStore, sha: str) -> None:
    """A failure of an older recipe, gone once the revision builds."""
    store.build_failure(sha).unlink(missing_ok=True)


def build_failures(store: FrameworkStore) -> list[tuple[str, dict | None]]:
    """(sha, the failure as kept, or None where it cannot be read) for every build failure kept."""
    found = []
    for path in store.build_failures():
        data = read_json(path)
        found.append((path.stem, data if isinstance(data, dict) else None))
    return found
