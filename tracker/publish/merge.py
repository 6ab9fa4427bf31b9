"""Merging results made on several machines (CI matrix jobs, `run --shard i/n`) into one results dir.

Every file a run writes is keyed by framework and commit (asv's result files, the tracker's records,
build failures), so shards never write the same file for different work and merging is copying. The
two small indexes, `revisions.json` and asv's `benchmarks.json`, are unions. Shards must share a machine
name (ZKML_TRACKER_MACHINE) for their points to form one asv series; their checkouts' paths do not matter
(tracker.run.asv_env), and path-named results from older trackers are renamed into the series by publish.
"""
from __future__ import annotations

from pathlib import Path

from tracker.fsutil import atomic_copy, atomic_write_json, read_json, read_state


def framework_dirs(shard: Path) -> list[Path]:
    """A shard is a results root (one dir per framework) or a single framework's results dir."""
    if (shard / "status.json").exists() or (shard / "asv").is_dir():
        return [shard]
    return [d for d in sorted(shard.iterdir()) if d.is_dir() and ((d / "status.json").exists() or (d / "asv").is_dir())]


def framework_name(fw_dir: Path) -> str:
    status = read_json(fw_dir / "status.json") or {}
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
    for path in sorted(src.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(src)
        target = dest / rel
        if rel.name == "revisions.json":
            _union(target, path, "revisions")
        elif rel.name == "status.json" and target.exists():
            continue  # each shard's status is its own; keep the first
        else:
            atomic_copy(path, target)


def _union(target: Path, source: Path, key: str) -> None:
    """The two indexes together; a torn one of ours is set aside and said (the publish that follows writes
    again, from the history, every revision it lacks), never read as empty and overwritten."""
    mine, torn = read_state(target)
    if torn:
        print(f"{target}: torn: set aside as {target.name}.torn; merged with the shard's, the rest written "
              f"again from the history by the publish")
    if not isinstance(mine, dict) or not isinstance(mine.get(key), dict):
        mine = {"version": 1, key: {}}
    theirs = read_json(source) or {}
    mine[key].update(theirs.get(key, {}))
    atomic_write_json(target, mine)
