"""Release histories from package registries, and the local git history derived from them.

A framework that publishes packages (EZKL on PyPI, circomlib-ml on npm) has a release history even where
its git repository cannot be reached. Each registry answer is cached on disk, so an unreachable registry
falls back to the last list seen. `derive_history` turns the releases into a local git repository with
one commit per release, dated with the release's upload time and tagged with its version.

Why version order, and a branch per release line: upload times do not follow versions. ezkl uploaded
23.0.3 at 14:51, 23.0.2 at 14:53 and 22.3.0 (a backport to the older line) at 15:00 on 2025-11-12; a
history in upload order read 23.0.3, 23.0.2, 22.3.0, 23.0.5, so the graph's axis ran backwards and a
verdict between neighbours judged 22.3.0 against 23.0.2. So the derived repository is shaped the way the
project itself grew: a release line (major.minor) is one branch, `refs/heads/line/X.Y`, its releases
chained in version order; a line starts from the newest release of an older line that was out when the
line's first release came (its fork point). `main`, the branch the tracker and asv follow, is the newest
line: its first-parent history runs through the fork points, so it reads in version order and holds
every release that led to the newest line. A backport released after a newer line began (22.3.0, or a
22.2.x patch uploaded after 23.0.0) lies on its own line's branch, off `main`: never run, graphed or
judged beside the newer line's releases (a user asking for one is told so; results made for one under
the older layout are set aside, see tracker.run.release_order). The other shape considered, one
version-ordered chain with the line recorded on each commit, would still have put 22.3.0 between 22.2.x
and 23.0.0 and judged 23.0.0 against a release that came out after it.

The history is a function of the releases known (the registry's answer, and every release derived
before, so a yanked release keeps its place): the same releases give the same commits (fixed author,
fixed dates, objects written by plumbing), and a new release of the newest line adds exactly one commit to
`main`. A late release that falls before others of its line in version order moves those (a release is
never placed after a higher version of its own line); `tracker.run.release_order` moves their results.

The registries' addresses can be pointed elsewhere (a mirror, a devpi, a test server) with
$ZKML_TRACKER_PYPI_URL (default https://pypi.org/pypi) and $ZKML_TRACKER_NPM_URL (default
https://registry.npmjs.org).
"""
from __future__ import annotations

import bisect
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from packaging.version import InvalidVersion, Version

from tracker.fsutil import atomic_write_json, read_json
from tracker.history.git import first_parent, git, tags_at
from tracker.history.revisions import Revision
from tracker.net import NetError, request
from tracker.types import Package

REGISTRY_DEADLINE_S = 60      # the whole answer, however slowly it comes (tracker/net.py)
REGISTRY_MAX_BYTES = 64 << 20  # PyPI's JSON for a package with many wheels is a few MB
REGISTRY_URLS = {"pypi": ("ZKML_TRACKER_PYPI_URL", "https://pypi.org/pypi"),
                 "npm": ("ZKML_TRACKER_NPM_URL", "https://registry.npmjs.org")}
IDENTITY = {"GIT_AUTHOR_NAME": "zkml-tracker", "GIT_AUTHOR_EMAIL": "zkml-tracker@localhost",
            "GIT_COMMITTER_NAME": "zkml-tracker", "GIT_COMMITTER_EMAIL": "zkml-tracker@localhost"}


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class Release:
    version: str
    uploaded: datetime


def releases(package: Package, cache: Path) -> tuple[list[Release], str]:
    """The package's installable releases in version order, and a note if the cached list had to be used."""
    cache_file = cache / "registry" / f"{package.registry}-{package.name.replace('/', '_')}.json"
    note = ""
    try:
        found = _fetch(package)
        atomic_write_json(cache_file, {"version": 1, "releases": [[r.version, r.uploaded.isoformat()] for r in found]})
    except RegistryError as exc:
        cached = read_json(cache_file)
        if not cached:
            raise RegistryError(f"{package.registry} unreachable and no cached release list: {exc}") from None
        found = [Release(v, datetime.fromisoformat(t)) for v, t in cached["releases"]]
        note = f"{package.registry} unreachable ({exc}); using the release list cached earlier"
    return sorted(found, key=lambda r: Version(r.version)), note


def _fetch(package: Package) -> list[Release]:
    variable, default = REGISTRY_URLS[package.registry]
    base = (os.environ.get(variable) or default).rstrip("/")
    url = f"{base}/{package.name}/json" if package.registry == "pypi" else f"{base}/{package.name}"
    try:
        answer = request(url, deadline_s=REGISTRY_DEADLINE_S, max_bytes=REGISTRY_MAX_BYTES, redirects=3,
                         headers={"Accept": "application/json", "User-Agent": "zkml-tracker"})
    except NetError as exc:
        raise RegistryError(str(exc)) from None
    if answer.status != 200:
        raise RegistryError(f"answered HTTP {answer.status}")
    try:
        data = json.loads(answer.body)
        return pypi_releases(data) if package.registry == "pypi" else npm_releases(data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # an answer not shaped like the registry's
        raise RegistryError(f"unexpected answer ({type(exc).__name__})") from None


def pypi_releases(data: dict) -> list[Release]:
    """Releases with a file this machine can install: a matching wheel, or an sdist where there are no wheels."""
    out = []
    for version, files in data.get("releases", {}).items():
        files = [f for f in files if not f.get("yanked")]
        if not files or _prerelease(version):
            continue
        wheels = [f["filename"] for f in files if f["filename"].endswith(".whl")]
        if wheels and not any(_installable_wheel(w) for w in wheels):
            continue
        uploaded = min(datetime.fromisoformat(f["upload_time_iso_8601"].replace("Z", "+00:00")) for f in files)
        out.append(Release(version, uploaded))
    return out


def npm_releases(data: dict) -> list[Release]:
    times = data.get("time", {})
    return [Release(v, datetime.fromisoformat(times[v].replace("Z", "+00:00")))
            for v in data.get("versions", {}) if v in times and not _prerelease(v)]


def _prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return True


def _installable_wheel(name: str) -> bool:
    """A cheap tag check: this Python (or abi3 / py3), and this OS and machine (or any)."""
    parts = name[:-4].split("-")
    if len(parts) < 5:
        return False
    py, abi, plat = parts[-3], parts[-2], parts[-1]
    here = f"cp{platform.python_version_tuple()[0]}{platform.python_version_tuple()[1]}"
    py_ok = here in py.split(".") or abi == "abi3" or py.startswith("py3")
    machine = platform.machine()
    plat_ok = plat == "any" or (platform.system() == "Linux" and "linux" in plat and machine in plat)
    return py_ok and plat_ok



Line = tuple[int, int]


def line_of(version: str) -> Line:
    """The release line a version belongs to: its major and minor numbers (`5` is line 5.0)."""
    return (*Version(version).release, 0)[:2]


def line_name(line: Line) -> str:
    return f"{line[0]}.{line[1]}"


# Upload dates tell a backport from a release only where they follow the versions. Share of release pairs
# uploaded in the opposite order to their versions, measured 2026-12-04: PyPI numpy 0.002, torch 0.000,
# ezkl 0.028, django 0.033 (many lines maintained side by side), ezkl's 7 releases of the tests with two
# more backports 0.17; this machine's npm registry, which dates its copies by when it took them,
# circomlib-ml 0.33, bb.js 0.29, o1js 0.29, snarkjs 0.67 (0.5 is no order at all).
DATES_DISORDER_MAX = 0.2


def dates_disorder(found: list[Release]) -> float:
    """The share of release pairs uploaded in the opposite order to their versions (0 where fewer than 2)."""
    ordered = sorted(found, key=lambda r: Version(r.version))
    seen: list[datetime] = []
    later_seen = 0
    for r in ordered:
        later_seen += len(seen) - bisect.bisect_right(seen, r.uploaded)  # lower versions uploaded after r
        bisect.insort(seen, r.uploaded)
    pairs = len(ordered) * (len(ordered) - 1) // 2
    return later_seen / pairs if pairs else 0.0


def disorder_note(disorder: float) -> str:
    """What a run says when fork_points is told the dates cannot be read (a disorder above the bound)."""
    return (f"the registry's upload dates do not follow the versions ({disorder:.0%} of "
            f"release pairs the other way round): releases placed by version alone, no backport told apart")


def fork_points(found: list[Release], dated: bool) -> dict[str, str | None]:
    """version -> the version of its parent commit (None for the root): each line's releases chained in
    version order, a line's first release on the newest older-line release uploaded before it (or, where
    none was, the newest older-line release at all). Where the upload dates do not follow the versions
    (a registry that dated its copies), they cannot tell a backport apart: every line starts from the
    newest older release, one chain in version order."""
    lines: dict[Line, list[Release]] = {}
    for r in sorted(found, key=lambda r: Version(r.version)):
        lines.setdefault(line_of(r.version), []).append(r)
    parent: dict[str, str | None] = {}
    older: list[Release] = []
    for line in sorted(lines):
        first = lines[line][0]
        before = [r for r in older if r.uploaded <= first.uploaded or not dated] or older
        parent[first.version] = max(before, key=lambda r: Version(r.version)).version if before else None
        for prev, r in zip(lines[line], lines[line][1:]):
            parent[r.version] = prev.version
        older += lines[line]
    return parent


def derive_history(package: Package, found: list[Release], repo: Path, notes: list[str] | None = None) -> list[Revision]:
    """The derived repository for the releases `found` and those derived before; the revisions on `main`,
    the newest line, oldest first (see the module's docstring for the shape and why). Where the dates of
    these releases cannot be read, `notes` gets the line that says so, judged on the same releases."""
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(repo))
    known = {r.version: r for r in [*_derived_before(repo), *found]}
    disorder = dates_disorder(list(known.values()))
    dated = disorder <= DATES_DISORDER_MAX
    if not dated and notes is not None:
        notes.append(disorder_note(disorder))
    parents = fork_points(list(known.values()), dated)
    commits: dict[str, ReleaseCommit] = {}
    for version in parents:  # parents come first: lines in order, each in version order
        parent = parents[version]
        commits[version] = ReleaseCommit.of(package, known[version], commits[parent].sha if parent else None)
    have = _present(repo, [c.sha for c in commits.values()])
    for c in commits.values():
        if c.sha not in have:
            c.write(repo)
    _set_refs(repo, {v: c.sha for v, c in commits.items()}, parents)
    return revisions_of(repo, package)


def _derived_before(repo: Path) -> list[Release]:
    """The releases the repository already holds, as their commits recorded them (RELEASE.json, read for
    every version tag in one git call, so a release the registry no longer lists keeps its exact commit)."""
    tags = [t for t in tags_at(repo) if not _prerelease(t)]
    if not tags:
        return []
    out = git("cat-file", "--batch", git_dir=repo, stdin="".join(f"refs/tags/{t}:RELEASE.json\n" for t in tags))
    found, rest = [], out
    while rest:
        header, _, rest = rest.partition("\n")
        parts = header.split()
        if len(parts) != 3:  # "<name> missing": not a release commit of ours
            continue
        body, rest = rest[:int(parts[2])], rest[int(parts[2]) + 1:]
        data = json.loads(body)
        found.append(Release(data["version"], datetime.fromisoformat(data["uploaded"])))
    return found


def _set_refs(repo: Path, shas: dict[str, str], parents: dict[str, str | None]) -> None:
    """Tags at their releases, `line/X.Y` at each line's newest release, `main` at the newest line's: one
    transaction, so a reader never sees half of a reordering."""
    tips: dict[Line, str] = {}
    for version in parents:
        tips[line_of(version)] = version
    updates = [f"update refs/tags/{v} {sha}" for v, sha in shas.items()]
    updates += [f"update refs/heads/line/{line_name(line)} {shas[v]}" for line, v in tips.items()]
    if tips:
        updates.append(f"update refs/heads/main {shas[tips[max(tips)]]}")
    git("update-ref", "--stdin", git_dir=repo, stdin="\n".join(updates) + "\n")


@dataclass(frozen=True)
class ReleaseCommit:
    """A release's commit as git would store it: worked out here, so an unchanged history costs no write."""

    sha: str
    release_json: str
    blob: str
    body: str

    @classmethod
    def of(cls, package: Package, release: Release, parent: str | None) -> "ReleaseCommit":
        text = json.dumps({"registry": package.registry, "package": package.name, "version": release.version,
                           "uploaded": release.uploaded.isoformat()}, indent=1) + "\n"
        blob = _object_id("blob", text.encode())
        tree = _object_id("tree", b"100644 RELEASE.json\0" + bytes.fromhex(blob))
        stamp = f"{int(release.uploaded.timestamp())} +0000"
        who = f"{IDENTITY['GIT_AUTHOR_NAME']} <{IDENTITY['GIT_AUTHOR_EMAIL']}> {stamp}"
        body = (f"tree {tree}\n" + (f"parent {parent}\n" if parent else "") + f"author {who}\ncommitter {who}\n\n"
                f"{package.name} {release.version}\n\nReleased on {package.registry} at "
                f"{release.uploaded.isoformat()}.\n")
        return cls(_object_id("commit", body.encode()), text, blob, body)

    def write(self, repo: Path) -> None:
        git("hash-object", "-w", "--stdin", git_dir=repo, stdin=self.release_json)
        git("mktree", git_dir=repo, stdin=f"100644 blob {self.blob}\tRELEASE.json\n")
        written = git("hash-object", "-w", "-t", "commit", "--stdin", git_dir=repo, stdin=self.body).strip()
        if written != self.sha:
            raise RegistryError(f"git stored a release commit as {written}, expected {self.sha}")


def _object_id(kind: str, body: bytes) -> str:
    """The id git gives an object: the sha-1 of its header and body."""
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).hexdigest()


def _present(repo: Path, shas: list[str]) -> set[str]:
    """Those of `shas` the repository holds as commits (one git call)."""
    if not shas:
        return set()
    out = git("cat-file", "--batch-check", git_dir=repo, stdin="\n".join(shas) + "\n")
    return {parts[0] for parts in (line.split() for line in out.splitlines()) if parts[1:2] == ["commit"]}


def revisions_of(repo: Path, package: Package) -> list[Revision]:
    """The releases on `main`, oldest first, each with its version and release line."""
    by_sha = {sha: tag for tag, sha in tags_at(repo).items()}
    out = []
    for r in first_parent(repo, "refs/heads/main"):
        version = by_sha.get(r.sha)
        out.append(Revision(r.sha, version or r.short, r.date, r.subject, version=version, position=r.position,
                            line=line_name(line_of(version)) if version else None))
    return out


def other_lines(repo: Path, on_main: list[Revision]) -> dict[str, str]:
    """version -> commit of every release off `main`: backports to older lines, kept on their own branch."""
    followed = {r.sha for r in on_main}
    return {v: sha for v, sha in tags_at(repo).items() if sha not in followed}
