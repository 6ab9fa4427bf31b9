"""Git, read-only and defensive: mirrors, first-parent history, and source trees at a commit.

Every git call goes through `git()`: no terminal prompts, only the http(s)/git/ssh/file transports
(so an `ext::` URL that slipped past the config could not run a command), `--` before paths, and
revisions that begin with `-` refused. Source trees are exported with `git archive` and unpacked with a
filter that drops any link pointing outside the tree, so a hostile repository cannot plant one.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tracker.history.revisions import Revision

GIT_TIMEOUT_S = 600
SAFE_PROTOCOLS = ("-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
                  "-c", "protocol.http.allow=always", "-c", "protocol.git.allow=always",
                  "-c", "protocol.ssh.allow=always", "-c", "protocol.file.allow=always")


class GitError(Exception):
    """A git command failed; the message is git's last line."""


def git(*args: str, cwd: Path | None = None, git_dir: Path | None = None, env: dict | None = None,
        timeout: float = GIT_TIMEOUT_S, binary: bool = False, stdin: str | None = None):
    argv = ["git", *SAFE_PROTOCOLS]
    if git_dir is not None:
        argv += ["--git-dir", str(git_dir)]
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C", **(env or {})}
    try:
        done = subprocess.run([*argv, *args], cwd=cwd, env=full_env, capture_output=True, timeout=timeout,
                              input=stdin.encode() if stdin is not None else None)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(lines[-1] if lines else f"git {args[0]} failed ({done.returncode})")
    return done.stdout if binary else done.stdout.decode(errors="replace")


def check_revision(rev: str) -> str:
    if not rev or rev.startswith("-") or any(c.isspace() or c == "\0" for c in rev):
        raise GitError(f"{rev!r} is not a revision")
    return rev


@dataclass(frozen=True)
class Mirror:
    path: Path
    note: str = ""  # one line when something was not as asked (remote unreachable, re-cloned)


def ensure_mirror(url: str, path: Path, branch: str, fresh: bool = False) -> Mirror:
    """Clone or fetch a bare mirror. Unreachable remote: the cached mirror, said so. Broken mirror: re-clone.

    `fresh` clones again even where the mirror looks healthy (an export from it failed); the old mirror
    is only replaced once the new clone is complete.
    """
    note = ""
    if (path.exists() or path.is_symlink()) and not fresh and not _healthy(path, branch):
        _remove(path)
        note = "the cached mirror was damaged and has been cloned again"
    if path.exists() and not fresh:
        try:
            git("remote", "update", "--prune", git_dir=path)
        except GitError as exc:
            return Mirror(path, f"remote unreachable ({exc}); using the cached mirror")
        return Mirror(path, note)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    _remove(tmp)
    try:
        git("clone", "--mirror", "--", url, str(tmp))
    except GitError as exc:
        _remove(tmp)
        raise GitError(f"cannot clone {url}: {exc}") from None
    _remove(path)
    os.replace(tmp, path)
    if not _healthy(path, branch):
        raise GitError(f"{url} has no branch {branch!r}")
    return Mirror(path, note)


def _remove(path: Path) -> None:
    """Remove what is at `path`, whatever it is (a damaged mirror may be a file or a dangling link)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _healthy(path: Path, branch: str) -> bool:
    try:
        git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", git_dir=path)
        return True
    except GitError:
        return False


def first_parent(git_dir: Path, spec: str) -> list[Revision]:
    """Commits of `spec` (a branch, or A..B) along first parents, oldest first, in one git call."""
    for part in spec.split(".."):
        check_revision(part)
    out = git("log", "--first-parent", "--reverse", "--format=%H%x1f%ct%x1f%s", spec, "--", git_dir=git_dir)
    revisions = []
    for line in out.splitlines():
        sha, stamp, subject = line.split("\x1f", 2)
        revisions.append(Revision(sha, sha[:8], datetime.fromtimestamp(int(stamp), timezone.utc), subject,
                                  upstream_sha=sha))
    return revisions


def resolve(git_dir: Path, rev: str) -> str:
    check_revision(rev)
    try:
        return git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
                   git_dir=git_dir).strip()
    except GitError:
        raise GitError(f"unknown revision {rev!r}") from None


def tags_at(git_dir: Path) -> dict[str, str]:
    """tag name -> commit sha, for every tag."""
    out = git("for-each-ref", "--format=%(refname:short)%09%(objectname)%09%(*objectname)", "refs/tags",
              git_dir=git_dir)
    tags = {}
    for line in out.splitlines():
        name, obj, peeled = (line.split("\t") + ["", ""])[:3]
        tags[name] = peeled or obj
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
