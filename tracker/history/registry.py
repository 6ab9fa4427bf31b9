"""Release histories from package registries, and the local git history derived from them.

A framework that publishes packages (EZKL on PyPI, circomlib-ml on npm) has a release history even where
its git repository cannot be reached. Each registry answer is cached on disk, so an unreachable registry
falls back to the last list seen. `derive_history` turns the releases into a local git repository with
one commit per release, in the order of their release dates, dated with the release's upload time and
tagged with its version, so that asv's commit axis means something. The same releases always give the same commits (fixed author, fixed
dates, plumbing commands), and a new release appends exactly one commit.

The registries' addresses can be pointed elsewhere (a mirror, a devpi, a test server) with
$ZKML_TRACKER_PYPI_URL (default https://pypi.org/pypi) and $ZKML_TRACKER_NPM_URL (default
https://registry.npmjs.org).
"""
from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from packaging.version import InvalidVersion, Version

from tracker.fsutil import atomic_write_json, read_json
from tracker.history.git import GitError, first_parent, git, tags_at
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
    """The package's installable releases in the order of their release dates (then versions), and a note if
    the cached list had to be used."""
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
    return sorted(found, key=lambda r: (r.uploaded, Version(r.version))), note


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


def derive_history(package: Package, found: list[Release], repo: Path) -> list[Revision]:
    """One commit per release on `main`, in the order given (release dates); known releases keep their commits.

    A release older than the newest one already derived (found late) is appended after it rather than
    inserted, because published history is never rewritten.
    """
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", str(repo))
    tags = tags_at(repo)
    try:
        head = git("rev-parse", "--verify", "--quiet", "refs/heads/main", git_dir=repo).strip()
    except GitError:
        head = None  # a new repository: no commit yet
    for release in found:
        if release.version in tags:
            continue
        head = _commit(repo, package, release, head)
        git("tag", release.version, head, git_dir=repo)
    if head:
        git("update-ref", "refs/heads/main", head, git_dir=repo)
    return revisions_of(repo, package)


def _commit(repo: Path, package: Package, release: Release, parent: str | None) -> str:
    text = json.dumps({"registry": package.registry, "package": package.name, "version": release.version,
                       "uploaded": release.uploaded.isoformat()}, indent=1) + "\n"
    blob = git("hash-object", "-w", "--stdin", git_dir=repo, stdin=text).strip()
    tree = git("mktree", git_dir=repo, stdin=f"100644 blob {blob}\tRELEASE.json\n").strip()
    stamp = f"{int(release.uploaded.timestamp())} +0000"
    env = {**IDENTITY, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    message = f"{package.name} {release.version}\n\nReleased on {package.registry} at {release.uploaded.isoformat()}.\n"
    return git("commit-tree", tree, *(["-p", parent] if parent else []), git_dir=repo, env=env,
               stdin=message).strip()


def revisions_of(repo: Path, package: Package) -> list[Revision]:
    by_sha = {sha: tag for tag, sha in tags_at(repo).items()}
    out = []
    for r in first_parent(repo, "refs/heads/main"):
        version = by_sha.get(r.sha)
        out.append(Revision(r.sha, version or r.short, r.date, r.subject, version=version, position=r.position))
    return out
