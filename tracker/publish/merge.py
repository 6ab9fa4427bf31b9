"""Merging results made on several machines (CI matrix jobs, `run --shard i/n`) into one results dir.

Every file a run writes is keyed by framework and commit (asv's result files, the tracker's records,
build failures), so shards never write the same file for different work and merging is copying. The
small indexes are unions: `revisions.json`, `confirmations.json` (a verdict measured later wins) and
`reported-regressions.json` (what the nightly told, so a merged shard never makes it tell again). Shards
must share a machine name (ZKML_TRACKER_MACHINE) for their points to form one asv series; their
checkouts' paths do not matter (tracker.store.asv), and path-named results from older trackers are
renamed into the series by publish.

A record of a commit the results already hold from another host (records carry the machine that made
them) is never put over it: that commit's record and asv result stay as they were, and one line names
both hosts. Two hosts under one name are two machines; a timing step between them is labelled "machine
changed" by the report, never a regression. Likewise a shard whose asv description of the machine name
(`asv/<machine>/machine.json`: os and kernel, cpu, cores, RAM) differs from the one the results bind the
name to keeps its results, which asv graphs as a series of their own, but never rebinds the name: the
results' description stays, and one line names both.
"""
from __future__ import annotations

from pathlib import Path

from tracker.fsutil import atomic_copy, atomic_write_json, read_json, read_state
from tracker.records import machine_of
from tracker.report.reported import NAME, merged, read_reported, write_reported
from tracker.store.asv import MACHINE_FIELDS
from tracker.store.formats import CONFIRMATIONS_VERSION, REVISIONS_VERSION
from tracker.store.paths import (ASV_DIR, ASV_MACHINE_FILE, CONFIRMATIONS_FILE, RECORDS_DIR, REVISIONS_FILE,
                                 STATUS_FILE)


def framework_dirs(shard: Path) -> list[Path]:
    """A shard is a results root (one dir per framework) or a single framework's results dir."""
    if is_framework_dir(shard):
        return [shard]
    return [d for d in sorted(shard.iterdir()) if d.is_dir() and is_framework_dir(d)]


def is_framework_dir(path: Path) -> bool:
    return (path / STATUS_FILE).exists() or (path / ASV_DIR).is_dir()


def framework_name(fw_dir: Path) -> str:
    status = read_json(fw_dir / STATUS_FILE) or {}
    return status.get("framework") or fw_dir.name


def merge_into(results: Path, shards: list[Path]) -> list[str]:
    """Copy every shard's files into `results`; return the frameworks touched."""
    touched = []
    for shard in shards:
        for fw_dir in framework_dirs(shard):
            name = framework_name(fw_dir)
            _merge_framework(fw_dir, results / name)
            touched.append(name)
    return sorted(set(touched))


def _merge_framework(src: Path, dest: Path) -> None:
    apart = other_hosts(src, dest)
    for path in sorted(src.rglob("*")):
        if not path.is_file() or _kept_apart(path.relative_to(src), apart):
            continue
        rel = path.relative_to(src)
        target = dest / rel
        if rel.name == ASV_MACHINE_FILE and len(rel.parts) == 3 and target.exists():
            _keep_machine_description(target, path, dest, src)
        elif rel.name == REVISIONS_FILE:
            _union(target, path, "revisions", REVISIONS_VERSION)
        elif rel.name == CONFIRMATIONS_FILE:
            _union(target, path, "pairs", CONFIRMATIONS_VERSION, newer="measured")
        elif rel.name == NAME and len(rel.parts) == 1:
            write_reported(target, merged([read_reported(target, print), read_reported(path, print)]))
        elif rel.name == STATUS_FILE and target.exists():
            continue  # each shard's status is its own; keep the first
        else:
            atomic_copy(path, target)
    if apart:
        (ours, theirs), count = next(iter(apart.values())), len(apart)
        print(f"{dest.name}: {count} commit(s) in {src} were measured by {theirs}, and the results already hold "
              f"them from {ours}, under one machine name: kept apart (ours stay; theirs are left in the shard)")


def _keep_machine_description(ours: Path, theirs: Path, dest: Path, src: Path) -> None:
    """A machine name the shard describes otherwise than the results do keeps the results' description
    (what the next runs reuse); said in one line naming both, with the hosts whose records each side holds."""
    mine, other = description(ours), description(theirs)
    if not mine or not other or mine == other:
        return
    differ = [f for f in MACHINE_FIELDS if mine.get(f) != other.get(f)]
    ours_said = ", ".join(f"{f} {mine.get(f, '?')}" for f in differ)
    theirs_said = ", ".join(f"{f} {other.get(f, '?')}" for f in differ)
    print(f"{dest.name}: machine name {ours.parent.name} is described in {src} as {theirs_said} ({record_hosts(src)}), "
          f"and the results bind it to {ours_said} ({record_hosts(dest)}): kept apart (the name keeps the "
          f"results' description; the shard's results keep theirs and are graphed as a series of their own)")


def description(machine_file: Path) -> dict[str, str]:
    """The fields of an asv machine description that name a machine (empty if unreadable)."""
    data = read_json(machine_file)
    return {f: str(data[f]) for f in MACHINE_FIELDS if f in data} if isinstance(data, dict) else {}


def record_hosts(fw_dir: Path) -> str:
    """The hosts named by a framework's records ("host-a, host-b"), for a line that must tell machines apart."""
    hosts = set()
    for path in fw_dir.glob(f"{RECORDS_DIR}/*/*.json"):
        record = read_json(path)
        machine = record.get("machine") if isinstance(record, dict) else None
        if isinstance(machine, dict) and isinstance(machine.get("host"), str):
            hosts.add(machine["host"])
    return ", ".join(sorted(hosts)) or "no records"


def other_hosts(src: Path, dest: Path) -> dict[str, tuple[str, str]]:
    """sha -> (our machine, theirs) for each commit whose record the shard has from another machine."""
    found = {}
    for path in sorted(src.glob("records/*/*.json")):
        ours, theirs = read_json(dest / path.relative_to(src)), read_json(path)
        if isinstance(ours, dict) and isinstance(theirs, dict):
            a, b = machine_of(ours.get("machine")), machine_of(theirs.get("machine"))
            if a != b:
                found[path.parent.name] = (a, b)
    return found


def _kept_apart(rel: Path, apart: dict[str, tuple[str, str]]) -> bool:
    """A shard's record or asv result of a commit kept apart (asv names results `<sha8>-<env>.json`)."""
    if rel.parts[0] == RECORDS_DIR and len(rel.parts) == 3:
        return rel.parts[1] in apart
    return rel.parts[0] == ASV_DIR and len(rel.parts) == 3 and any(rel.name.startswith(f"{sha[:8]}-") for sha in apart)


def _union(target: Path, source: Path, key: str, version: int, newer: str = "") -> None:
    """The two indexes together (an entry in both: the one whose `newer` field is later, if named, else
    theirs); a torn one of ours is set aside and said (the publish that follows writes again what it can,
    from the history and the remeasure/ records), never read as empty and overwritten."""
    mine, torn = read_state(target)
    if torn:
        print(f"{target}: torn: set aside as {target.name}.torn; merged with the shard's, the rest written "
              f"again from the history by the publish")
    if not isinstance(mine, dict) or not isinstance(mine.get(key), dict):
        mine = {"version": version, key: {}}
    theirs = read_json(source) or {}
    for k, entry in (theirs.get(key) or {}).items():
        held = mine[key].get(k)
        if not (newer and isinstance(held, dict) and isinstance(entry, dict)) or \
                str(entry.get(newer, "")) >= str(held.get(newer, "")):
            mine[key][k] = entry
    atomic_write_json(target, mine)
