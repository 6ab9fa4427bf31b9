"""Where a framework's revisions come from: a git mirror, or a history derived from a package registry.

`open_history(framework, cache)` gives a `History`: the git repository asv reads (`repo_path`, `branch`),
the revisions on it (oldest first), how to write a source tree of one (`checkout_fn`), and `status`:
one-line notes on anything that did not go as asked (remote or registry unreachable, cache used).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tracker.config import Framework
from tracker.history.git import GitError, ensure_mirror, export_tree, first_parent, resolve, tags_at
from tracker.history.registry import RegistryError, derive_history, releases, revisions_of
from tracker.history.revisions import Revision


class HistoryError(Exception):
    """The framework's history cannot be had (no mirror and no remote, no registry and no cache)."""


@dataclass
class History:
    repo_path: Path
    branch: str
    commit_url: str = ""
    status: list[str] = field(default_factory=list)
    derived: bool = False
    _revisions: list[Revision] | None = None
    releases: list[Revision] | None = None  # where releases sit on an upstream branch among other commits
    reclone: Callable[[], object] | None = None  # makes the mirror again from its remote, if it has one

    def selectable(self) -> list[Revision]:
        """What `latest N` and the default count from: the releases of a release history, else every commit."""
        return self.releases if self.releases is not None else self.revisions()

    def revisions(self) -> list[Revision]:
        if self._revisions is None:
            self._revisions = first_parent(self.repo_path, self.branch)
        return self._revisions

    def resolve(self, name: str) -> Revision:
        """A revision by sha (or prefix), tag, or release version."""
        by_label = {r.label: r for r in self.revisions()}
        if name in by_label:
            return by_label[name]
        try:
            sha = resolve(self.repo_path, name)
        except GitError as exc:
            raise HistoryError(str(exc)) from None
        for r in self.revisions():
            if r.sha == sha:
                return r
        raise HistoryError(f"{name!r} is not on the first-parent history of {self.branch}")

    def between(self, good: str, bad: str) -> list[Revision]:
        """First-parent commits after `good`, up to and including `bad`, oldest first."""
        shas = {r.sha for r in first_parent(self.repo_path, f"{good}..{bad}")}
        return [r for r in self.revisions() if r.sha in shas]

    def checkout_fn(self, revision: Revision) -> Callable[[Path], None]:
        def checkout(dest: Path) -> None:
            """Write the tree; a mirror that fails to give it (objects lost under the cache) is cloned again."""
            try:
                dropped = export_tree(self.repo_path, revision.sha, dest)
            except GitError as exc:
                if self.reclone is None:
                    raise HistoryError(f"cannot write the source of {revision.label}: {exc}") from None
                try:
                    self.reclone()
                    shutil.rmtree(dest, ignore_errors=True)
                    dropped = export_tree(self.repo_path, revision.sha, dest)
                except GitError as again:
                    raise HistoryError(f"cannot write the source of {revision.label} ({exc}), and cloning "
                                       f"the mirror again failed: {again}") from None
                self.status.append("the cached mirror could not give a source tree and has been cloned again")
            if dropped:
                (dest.parent / "dropped-links.txt").write_text("\n".join(dropped) + "\n")
        return checkout


def open_history(fw: Framework, cache: Path) -> History:
    try:
        if fw.history.kind == "commits":
            return _commits(fw, cache)
        return _releases(fw, cache)
    except (GitError, RegistryError) as exc:
        raise HistoryError(f"history of {fw.name} unavailable: {exc}") from None


def _commits(fw: Framework, cache: Path) -> History:
    path = cache / "mirrors" / f"{fw.name}.git"
    mirror = ensure_mirror(fw.repo, path, fw.history.branch)
    url = f"{fw.repo.removesuffix('.git')}/commit/" if fw.repo.startswith("https://github.com/") else ""
    return History(mirror.path, fw.history.branch, url, [mirror.note] if mirror.note else [],
                   reclone=lambda: ensure_mirror(fw.repo, path, fw.history.branch, fresh=True))


def _releases(fw: Framework, cache: Path) -> History:
    """Releases on the upstream tags where the repo is at hand; otherwise a history derived from the registry."""
    notes: list[str] = []
    if fw.repo:
        upstream = _releases_on_tags(fw, cache, notes)
        if upstream is not None:
            return upstream
    found, note = releases(fw.history.package, cache)
    notes += [note] if note else []
    repo = cache / "derived" / f"{fw.name}.git"
    revisions = derive_history(fw.history.package, found, repo)
    return History(repo, "main", "", notes, derived=True, _revisions=revisions)


def _releases_on_tags(fw: Framework, cache: Path, notes: list[str]) -> History | None:
    try:
        history = _commits(fw, cache)
    except GitError as exc:
        notes.append(f"upstream repo unreachable ({exc}); history derived from {fw.history.package.registry}")
        return None
    found, note = releases(fw.history.package, cache)
    tags = tags_at(history.repo_path)
    on_branch = {r.sha: r for r in history.revisions()}
    placed = []
    for release in found:
        sha = tags.get(f"v{release.version}") or tags.get(release.version)
        if sha in on_branch:
            r = on_branch[sha]
            placed.append(Revision(r.sha, release.version, r.date, r.subject, release.version, r.sha))
    if not placed:
        notes.append("no release tag found on the upstream branch; history derived from the registry")
        return None
    history.status += notes + ([note] if note else [])
    labels = {r.sha: r for r in placed}
    history._revisions = [labels.get(r.sha, r) for r in history.revisions()]
    history.releases = placed
    return history
