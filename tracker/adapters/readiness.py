"""Whether a framework can run on this machine: the one answer `list`, `run`, the site, `bisect` and
`compare` give.

A framework is `unsupported` while its adapter says it is not written for it yet, `failed` (given the
cache, once all it needs is here) while its `repo:` is a local path that is not a git repository, or is
gone with no mirror of it kept (a config to fix, not a machine that lacks something: `run` records it
failed and exits 1), `unavailable` while
something it needs is not here (a toolchain the adapter or the build recipe names, what the adapter
checks itself, a host its build fetches from outside the package registries, or, given the cache, a commit
history whose remote is out of reach with no mirror kept), else `ready`. Checks go from cheap to dear, and
the first that fails is the reason: a host is tried only once every local need is met, with a short
connection (`tracker.net.reach`) and nothing sent.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tracker import net
from tracker.adapters import get_adapter
from tracker.adapters.base import Adapter
from tracker.history.git import GitError, git
from tracker.history.source import mirror_path
from tracker.measure import output_of
from tracker.records import Status
from tracker.types import Framework

READY = "ready"  # not a Status: nothing is recorded for a framework that can run until it has run
UNSUPPORTED, UNAVAILABLE = Status.UNSUPPORTED, Status.UNAVAILABLE  # what `run` records for one that cannot
REACH_DEADLINE_S = 3.0


@dataclass(frozen=True)
class Readiness:
    state: str  # READY, UNSUPPORTED, UNAVAILABLE or Status.FAILED
    reason: str = ""  # one line; empty when ready

    @property
    def ready(self) -> bool:
        return self.state == READY


def readiness(fw: Framework, cache: Path | None = None) -> Readiness:
    """Can `fw` run here, and if not, why (one line a user can act on). With the tracker's `cache`, a
    commit history is checked too: its remote must answer unless a mirror of it is kept there."""
    adapter = get_adapter(fw.adapter)
    if adapter.unsupported_reason:
        return Readiness(UNSUPPORTED, adapter.unsupported_reason)
    why = missing_toolchains(adapter, fw) or missing_rust_toolchain(fw) or adapter.missing_here() or \
        unreachable_hosts(adapter.fetches_from)
    broken = unusable_repo(fw, cache) if cache is not None and not why else None
    if broken:
        return Readiness(Status.FAILED, broken)
    why = why or unreachable_history(fw, cache)
    return Readiness(UNAVAILABLE, why) if why else Readiness(READY)


def missing_toolchains(adapter: Adapter, fw: Framework) -> str | None:
    """The adapter's toolchains (with how to install each) and the build recipe's not on PATH, as one line."""
    lines = [f"missing toolchain {t.name} ({t.command} not on PATH): {t.install_hint}"
             for t in adapter.toolchains if not t.present()]
    named = {t.command for t in adapter.toolchains}
    recipe = [name for name in fw.build.toolchains if name not in named and shutil.which(name) is None]
    if recipe:
        lines.append(f"missing toolchain(s) for the build: {', '.join(recipe)} (not on PATH)")
    return "; ".join(lines) or None


def missing_rust_toolchain(fw: Framework) -> str | None:
    """The recipe's `rust_toolchain` (zkml's nightly) when rustup does not list it, with how to install it.
    Asked once rustup is on PATH (the toolchains say when it is not)."""
    name = fw.build.rust_toolchain
    if not name or shutil.which("rustup") is None:
        return None
    listing = output_of(["rustup", "toolchain", "list"], timeout_s=20)  # one a line: nightly-x86_64-unknown-...
    if any(line.strip().startswith(name) for line in listing.splitlines()):
        return None
    return f"missing toolchain rust {name} (`rustup toolchain list` shows none): rustup toolchain install {name}"


def unusable_repo(fw: Framework, cache: Path) -> str | None:
    """Why a commit history's local `repo:` cannot be cloned (git's own words where it is there but not a
    repository); None for a URL, a repository, or a path gone while a mirror of it is kept in `cache` (a run
    goes on from the mirror and says so)."""
    if fw.history.kind != "commits" or not fw.repo or ("://" in fw.repo and not fw.repo.startswith("file://")):
        return None
    path = Path(fw.repo.removeprefix("file://"))
    if not path.exists():
        return None if mirror_path(fw, cache).exists() else \
            f"repo: {path} does not exist (and no mirror of it is cached): give 'repo:' a git clone"
    try:
        git("ls-remote", "--heads", str(path.resolve()), timeout=30)
    except GitError as exc:
        return f"repo: {path} is not a git repository ({exc}): give 'repo:' a git clone"
    return None


DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}


def unreachable_history(fw: Framework, cache: Path | None, deadline_s: float = REACH_DEADLINE_S) -> str | None:
    """Why a commit history cannot be had: its repo is a remote URL no connection reaches, and no mirror
    of it is kept in `cache` (with one, a run goes on from the mirror and says so). None otherwise."""
    if cache is None or fw.history.kind != "commits" or not fw.repo or "://" not in fw.repo:
        return None
    if mirror_path(fw, cache).exists():
        return None
    url = urlsplit(fw.repo)
    try:
        why = no_connection(url.hostname or "", url.port or DEFAULT_PORTS.get(url.scheme, 443), deadline_s)
    except ValueError as exc:  # a port that is not a number
        why = str(exc)
    return (f"its history is cloned from {fw.repo}, not reachable from here ({why}), and no mirror of it "
            f"is cached: give 'repo:' a local clone") if why else None


def unreachable_hosts(hosts: dict[str, str], deadline_s: float = REACH_DEADLINE_S) -> str | None:
    """The hosts (`name` or `name:port`, 443 by default) no connection reaches within `deadline_s`, and
    what the build fetches from each, as one line; None when every one answers."""
    lines = []
    for host, what in hosts.items():
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "443")
        why = no_connection(name, int(port), deadline_s)
        if why:
            lines.append(f"its build needs {host} ({what}), not reachable from here ({why})")
    return "; ".join(lines) or None


def no_connection(host: str, port: int, deadline_s: float) -> str | None:
    """Why no connection reaches `host:port` within `deadline_s` (net.reach's reason); None when one does."""
    try:
        net.reach(host, port, deadline_s)
    except net.NetError as exc:
        return str(exc)
    return None
