"""The history a framework is followed on: its revisions, from a git mirror or a package registry (see
tracker.history, the face of this package, for the whole story)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from tracker.history.git import GitError, ensure_mirror, export_tree, first_parent, head_ref, resolve, tags_at
from tracker.history.registry import (RegistryError, derive_history, line_name, line_of, other_lines, releases,
                                      revisions_of)
from tracker.history.revisions import Revision
from tracker.types import Framework


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
    reclone: Callable[[], object] | None = None  # makes the mirror again from its remote, if it has one
    gone: str = ""  # the followed branch is gone upstream: one line saying so (framework, repo, branch)
    other_lines: dict[str, str] = field(default_factory=dict)  # release history: version -> commit, off `main`

    def selectable(self) -> list[Revision]:
        """What `latest N` and the default count from: the followed branch's commits in its order (a release
        history's `main` is already in version order, the newest line's releases last)."""
        return self.revisions()

    def revisions(self) -> list[Revision]:
        if self._revisions is None:
            self._revisions = first_parent(self.repo_path, self.branch)
        return self._revisions

    def resolve(self, name: str) -> Revision:
        """A revision by sha (or prefix), tag, or release version; in a release history also by the upstream
        tag (`v1.2.3`) or the upstream commit (7 characters at least) a release is mapped to."""
        by_label = {r.label: r for r in self.revisions()}
        if name in by_label:
            return by_label[name]
        if self.derived and name.startswith("v") and name[1:] in by_label:
            return by_label[name[1:]]
        if self.derived and name.removeprefix("v") in self.other_lines:
            raise HistoryError(self.off_line(name.removeprefix("v")))
        upstream = [r for r in self.revisions() if self.derived and len(name) >= 7 and r.upstream_sha
                    and r.upstream_sha.startswith(name)]
        if len(upstream) == 1:
            return upstream[0]
        try:
            sha = resolve(self.repo_path, name)
        except GitError as exc:
            raise HistoryError(str(exc)) from None
        for r in self.revisions():
            if r.sha == sha:
                return r
        raise HistoryError(f"{name!r} is not on the first-parent history of {self.branch}")

    def off_line(self, version: str) -> str:
        """Why a release of an older line is not followed, as one line."""
        newest = self.revisions()[-1].line if self.revisions() else "?"
        return (f"{version} is a release of the older line {line_name(line_of(version))}, kept on its own "
                f"branch off the followed line {newest} so that it is never judged against newer releases")

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


def cached_history(fw: Framework, cache: Path) -> History | None:
    """The history as the cache holds it now, nothing fetched, derived or mapped (a command line's names are
    checked against it before the lock is taken, so a running command's mirror is never fetched into at
    the same time); None where the cache holds none or git cannot read it."""
    try:
        if fw.history.kind == "commits":
            path = mirror_path(fw, cache)
            history = History(path, head_ref(fw.history.branch))
        else:
            path = derived_path(fw, cache)
            revisions = revisions_of(path, fw.history.package) if (path / "HEAD").exists() else []
            history = History(path, head_ref("main"), derived=True, _revisions=revisions,
                              other_lines=other_lines(path, revisions))
        return history if (path / "HEAD").exists() and history.revisions() else None
    except GitError:
        return None


def derived_path(fw: Framework, cache: Path) -> Path:
    """Where the history derived from a framework's registry is kept in the cache."""
    return cache / "derived" / f"{fw.name}.git"


def mirror_path(fw: Framework, cache: Path) -> Path:
    """Where the framework's upstream repository is mirrored in the cache."""
    return cache / "mirrors" / f"{fw.name}.git"


def _commits(fw: Framework, cache: Path) -> History:
    path = mirror_path(fw, cache)
    mirror = ensure_mirror(fw.repo, path, fw.history.branch)
    url = f"{fw.repo.removesuffix('.git')}/commit/" if fw.repo.startswith("https://github.com/") else ""
    return History(mirror.path, head_ref(fw.history.branch), url, list(mirror.notes), gone=mirror.gone,
                   reclone=lambda: ensure_mirror(fw.repo, path, fw.history.branch, fresh=True))


def _releases(fw: Framework, cache: Path) -> History:
    """The history derived from the registry, its releases mapped to their upstream tags where the repo is at hand."""
    found, note = releases(fw.history.package, cache)
    repo = derived_path(fw, cache)
    notes = [note] if note else []
    revisions = derive_history(fw.history.package, found, repo, notes)
    history = History(repo, head_ref("main"), "", notes, derived=True, _revisions=revisions,
                      other_lines=other_lines(repo, revisions))
    if fw.repo:
        _map_to_tags(fw, cache, history)
    return history


def _map_to_tags(fw: Framework, cache: Path, history: History) -> None:
    """Each release's `upstream_sha` is its tag's commit (`v1.2.3` or `1.2.3`, on any branch); said where none."""
    try:
        mirror = ensure_mirror(fw.repo, mirror_path(fw, cache), fw.history.branch)
    except GitError as exc:
        history.status.append(f"upstream repo unreachable ({exc}); releases are not mapped to their tags")
        return
    history.status += [*mirror.notes, *([mirror.gone] if mirror.gone else [])]
    tags = tags_at(mirror.path)
    mapped, untagged = [], []
    for r in history.revisions():
        name = next((t for t in (f"v{r.version}", r.version) if t in tags), None)
        if name is None:
            untagged.append(r.label)
            mapped.append(replace(r, subject=f"{r.subject}; no tag upstream: placed by its version"))
        else:
            mapped.append(replace(r, upstream_sha=tags[name], subject=f"{r.subject}; tag {name} at {tags[name][:8]}"))
    history._revisions = mapped
    if untagged:
        shown = ", ".join(untagged[:5]) + (f" and {len(untagged) - 5} more" if len(untagged) > 5 else "")
        history.status.append(f"{len(untagged)} release(s) with no tag upstream ({shown}): placed by their "
                              f"versions")
