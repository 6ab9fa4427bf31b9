"""Git, read-only and defensive: mirrors, first-parent history, and source trees at a commit.

Every git call goes through `git()`, which starts git through `tracker.measure.captured` (its own process
group, killed whole at the deadline): no terminal prompts, only the http(s)/git/ssh/file transports
(so an `ext::` URL that slipped past the config could not run a command), `--` before paths, and
revisions that begin with `-` refused. Source trees are exported with `git archive` and unpacked with a
filter that drops any link pointing outside the tree, so a hostile repository cannot plant one.

Refs are always named in full (`refs/heads/main`, `refs/tags/v1.0`): git resolves a bare `main` to a tag
before a branch, so a tag named like the followed branch would otherwise be followed instead of it. A
mirror fetches only branches and tags, pruning both, and keeps the followed branch's last known tip under
`refs/zkml-tracker/heads/`, which no fetch prunes: a branch deleted upstream is put back at that tip and
said, never taken for a damaged mirror.
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tracker.history.revisions import Revision
from tracker.measure import ChildFailed, ChildTimeout, captured

GIT_TIMEOUT_S = 600
SAFE_PROTOCOLS = ("-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
                  "-c", "protocol.http.allow=always", "-c", "protocol.git.allow=always",
                  "-c", "protocol.ssh.allow=always", "-c", "protocol.file.allow=always")


class GitError(Exception):
    """A git command failed; the message is git's own reason (its first `fatal:` line, else its last line)."""


def git(*args: str, cwd: Path | None = None, git_dir: Path | None = None, env: dict | None = None,
        timeout: float = GIT_TIMEOUT_S, binary: bool = False, stdin: str | None = None):
    argv = ["git", *SAFE_PROTOCOLS]
    if git_dir is not None:
        argv += ["--git-dir", str(git_dir)]
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C", **(env or {})}
    try:
        return captured([*argv, *args], stdin=stdin, env=full_env, cwd=cwd, timeout_s=timeout, binary=binary)
    except ChildTimeout:
        raise GitError(f"git {args[0]} timed out after {timeout:g} s") from None
    except ChildFailed as exc:
        raise GitError(git_reason(exc)) from None


# what git adds after the reason when a remote fails, whatever the reason (ssh's refusal, a plain dir, ...)
GIT_BOILERPLATE = ("fatal: Could not read from remote repository.", "Please make sure you have the correct access rights",
                   "and the repository exists.")


def git_reason(failed: ChildFailed) -> str:
    """The line that says why git failed: its first `fatal:` line, else `error:` line, else the first line
    of its own. Its last line is often advice that reads as the opposite ("... and the repository
    exists.", after "does not appear to be a git repository")."""
    lines = [line.strip() for line in failed.log_tail.splitlines()]
    lines = [line for line in lines if line and line not in GIT_BOILERPLATE and not line.startswith("Cloning into")]
    for prefix in ("fatal: ", "error: ", ""):
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[0]
    return failed.reason


def check_revision(rev: str) -> str:
    if not rev or rev.startswith("-") or any(c.isspace() or c == "\0" for c in rev):
        raise GitError(f"{rev!r} is not a revision")
    return rev


@dataclass(frozen=True)
class Mirror:
    path: Path
    notes: tuple[str, ...] = ()  # one line each where something was not as asked (remote unreachable, ...)
    gone: str = ""  # set when the followed branch is gone upstream: the mirror keeps its last known tip


def head_ref(branch: str) -> str:
    """The followed branch, fully qualified: a tag of the same name can never stand in for it."""
    return f"refs/heads/{check_revision(branch)}"


def kept_ref(branch: str) -> str:
    """Where the mirror keeps the branch's last known tip, out of reach of the fetch's pruning."""
    return f"refs/zkml-tracker/heads/{check_revision(branch)}"


def shown(url: str) -> str:
    """The address as it may be printed: any user or token in it replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def ensure_mirror(url: str, path: Path, branch: str, fresh: bool = False) -> Mirror:
    """Clone or fetch a bare mirror of `url` following `branch`; never lose what it holds.

    Unreachable remote: the cached mirror, said so. A changed `url`: the mirror fetches from it from now
    on, said so. The branch deleted or renamed upstream: the mirror keeps its last known tip (`gone`).
    A mirror git cannot read is cloned again; it is only replaced once the new clone is complete and has
    the branch. `fresh` clones again even where the mirror looks healthy (an export from it failed).
    """
    check_revision(branch)
    note = ()
    if (path.exists() or path.is_symlink()) and not fresh:
        if _tips(path, branch) is not None:
            updated = _update(url, path, branch)
            if updated is not None:
                return updated
        else:
            note = ("the cached mirror was damaged and has been cloned again",)
    _clone(url, path, branch)
    return Mirror(path, note)


def _update(url: str, path: Path, branch: str) -> Mirror | None:
    """Fetch the branches and tags (pruning both); the followed branch's tip is kept across a deletion.

    None when the mirror has never known the branch and the fetch did not bring it (a `branch:` changed in
    frameworks.yaml, or a mirror pruned by an older tracker): then a clone decides, without removing this one."""
    notes: list[str] = []
    before = _origin(path)
    if before != url:
        git("remote", "set-url", "origin", "--", url, git_dir=path)
        notes.append(f"repo changed from {shown(before)} to {shown(url)}: the mirror now fetches from the new one")
    _keep(path, branch)
    try:
        git("fetch", "--prune", "--quiet", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
            git_dir=path)
    except GitError as exc:
        return Mirror(path, (*notes, f"remote unreachable ({exc}); using the cached mirror")) \
            if _keep(path, branch)[1] else None
    head, tip = _keep(path, branch)
    if not tip:
        return None
    if head:
        return Mirror(path, tuple(notes))
    return Mirror(path, tuple(notes), f"branch {branch!r} is gone from {shown(url)} (deleted or renamed upstream): "
                                      f"the cached mirror keeps it at its last known tip {tip[:8]}; name a branch "
                                      f"that exists in frameworks.yaml to follow new commits")


def _clone(url: str, path: Path, branch: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    _remove(tmp)
    try:
        git("clone", "--mirror", "--", url, str(tmp))
    except GitError as exc:
        _remove(tmp)
        raise GitError(f"cannot clone {shown(url)}: {exc}") from None
    if not _keep(tmp, branch)[0]:
        _remove(tmp)
        raise GitError(f"{shown(url)} has no branch {branch!r}")
    _remove(path)
    os.replace(tmp, path)


def _origin(path: Path) -> str:
    try:
        return git("config", "--get", "remote.origin.url", git_dir=path).strip()
    except GitError:
        return ""


def _tips(path: Path, branch: str) -> tuple[str, str] | None:
    """The commits the branch and its kept tip name ("" where a ref is missing); None if git cannot read them."""
    try:
        out = git("for-each-ref", "--format=%(refname) %(objectname) %(objecttype)", head_ref(branch),
                  kept_ref(branch), git_dir=path)
    except GitError:  # not a repository, or a ref's object is lost
        return None
    found = {name: sha for name, sha, kind in (line.split() for line in out.splitlines()) if kind == "commit"}
    return found.get(head_ref(branch), ""), found.get(kept_ref(branch), "")


def _keep(path: Path, branch: str) -> tuple[str, str]:
    """Keep the branch's tip apart; where the branch is missing, put it back at the kept tip.

    Returns the branch's tip as fetched ("" if it is gone) and the tip the mirror now follows."""
    head, kept = _tips(path, branch) or ("", "")
    if head and head != kept:
        git("update-ref", kept_ref(branch), head, git_dir=path)
    elif not head and kept:
        git("update-ref", head_ref(branch), kept, git_dir=path)
    return head, head or kept


def _remove(path: Path) -> None:
    """Remove what is at `path`, whatever it is (a damaged mirror may be a file or a dangling link)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def first_parent(git_dir: Path, spec: str) -> list[Revision]:
    """Commits of `spec` (a branch, or A..B) along first parents, oldest first, in one git call.

    Given a whole branch, each revision carries its `position` on it (1 for the root)."""
    for part in spec.split(".."):
        check_revision(part)
    whole = ".." not in spec
    out = git("log", "--first-parent", "--reverse", "--format=%H%x1f%ct%x1f%s", spec, "--", git_dir=git_dir)
    revisions = []
    for i, line in enumerate(out.splitlines(), start=1):
        sha, stamp, subject = line.split("\x1f", 2)
        revisions.append(Revision(sha, sha[:8], datetime.fromtimestamp(int(stamp), timezone.utc), subject,
                                  upstream_sha=sha, position=i if whole else None))
    return revisions


def resolve(git_dir: Path, rev: str) -> str:
    check_revision(rev)
    try:
        return git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
                   git_dir=git_dir).strip()
    except GitError:
        raise GitError(f"unknown revision {rev!r}") from None


def tags_at(git_dir: Path) -> dict[str, str]:
    """tag name -> commit sha, for every tag (named in full, so a tag `main` beside a branch `main` is `main`)."""
    out = git("for-each-ref", "--format=%(refname)%09%(objectname)%09%(*objectname)", "refs/tags/",
              git_dir=git_dir)
    tags = {}
    for line in out.splitlines():
        name, obj, peeled = (line.split("\t") + ["", ""])[:3]
        tags[name.removeprefix("refs/tags/")] = peeled or obj
    return tags


def export_tree(git_dir: Path, sha: str, dest: Path) -> list[str]:
    """Write the tree of `sha` to `dest`; return the links that were dropped because they led outside."""
    check_revision(sha)
    data = git("archive", "--format=tar", sha, git_dir=git_dir, binary=True)
    dest.mkdir(parents=True, exist_ok=True)
    dropped: list[str] = []

    def only_inside(member: tarfile.TarInfo, path: str):
        try:
            return tarfile.data_filter(member, path)
        except tarfile.FilterError:
            dropped.append(member.name)
            return None

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter=only_inside)
    return dropped
