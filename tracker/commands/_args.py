"""Every name and count given on the command line, checked against what exists before any work starts.

A typo must become neither a traceback nor an exit status that means a verdict (`compare` exits 1 on a
regression, `regressions` 3 on regressions): each is refused in one line, exit 2 (the usage error argparse
gives), naming the option, the value and what exists. A count that would select everything or nothing
(`--steps 0`, `--latest -5`, `--rounds 0`) is refused the same way. `cli.main` calls `check_arguments`
for every command, so a command gets only names and counts that exist, by whatever option it takes them.

Revisions are resolved in the history of each framework they apply to: first as the cache holds it (no
fetch while another command may hold the lock and be fetching), and only a name not found there in the
history opened afresh. A framework whose history cannot be had here is left to the command, which says
why in its own words (unavailable, the remote out of reach).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tracker.adapters.readiness import readiness
from tracker.config import Config
from tracker.history import HistoryError, open_history
from tracker.history.source import cached_history
from tracker.types import Framework

EXIT_USAGE = 2
COUNTS = ("steps", "latest", "rounds", "repeats", "eval_count")  # each must be 1 or more where given
REVISIONS = (("revisions", "--revision"), ("good", "good"), ("bad", "bad"), ("base", "base"), ("head", "head"))


class UsageError(Exception):
    """A name or count on the command line that does not exist or cannot be; the message is one line."""


def check_arguments(config: Config, args: argparse.Namespace, cache: Path) -> None:
    """Raise UsageError for the first name or count that is not right, before any work starts."""
    _check_counts(args)
    _check_shard(args)
    frameworks = selected_frameworks(config, args)
    _check_models(args)
    _check_variants(frameworks, args)
    _check_revisions(frameworks, args, cache)


def _given(args: argparse.Namespace, name: str) -> list:
    """An option's values as a list, whether it takes one (`--model` of bisect) or many."""
    value = getattr(args, name, None)
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _check_counts(args: argparse.Namespace) -> None:
    for name in COUNTS:
        for value in _given(args, name):
            if value < 1:
                raise UsageError(f"--{name.replace('_', '-')} {value}: must be 1 or more")


def _check_shard(args: argparse.Namespace) -> None:
    shard = getattr(args, "shard", None)
    if shard is not None and not 1 <= shard[0] <= shard[1]:
        raise UsageError(f"--shard {shard[0]}/{shard[1]}: need 1 <= I <= N")


def selected_frameworks(config: Config, args: argparse.Namespace) -> list[Framework]:
    """The frameworks named (`-f`, one or many), every one known; all of them where none is named."""
    known = {f.name: f for f in config.frameworks}
    names = _given(args, "frameworks") + _given(args, "framework")
    for name in names:
        if name not in known:
            raise UsageError(f"--framework {name}: unknown framework (known: {', '.join(known)})")
    return [known[n] for n in names] or list(config.frameworks)


def _check_models(args: argparse.Namespace) -> None:
    from tracker.models.zoo import MODELS  # numpy and onnx: only when a command names a model

    known = [m.name for m in MODELS]
    for name in _given(args, "models") + _given(args, "model"):
        if name not in known:
            raise UsageError(f"--model {name}: unknown model (known: {', '.join(known)})")


def _check_variants(frameworks: list[Framework], args: argparse.Namespace) -> None:
    for name in _given(args, "variants") + _given(args, "variant"):
        for fw in frameworks:
            if name not in fw.variant_names:
                raise UsageError(f"--variant {name}: {fw.name} has no such variant (it has "
                                 f"{', '.join(fw.variant_names)})")


def _check_revisions(frameworks: list[Framework], args: argparse.Namespace, cache: Path) -> None:
    """Each revision (and both ends of `--range`) resolves in every framework it applies to."""
    given = [(option, rev) for name, option in REVISIONS for rev in _given(args, name)]
    spec = getattr(args, "range", None)
    if spec is not None:
        ends = spec.split("..")
        if len(ends) != 2 or not all(ends):
            raise UsageError(f"--range {spec}: need A..B (two revisions)")
        given += [("--range", end) for end in ends]
    if not given:
        return
    for fw in frameworks:
        for option, rev in given:
            why = _unresolved(fw, cache, rev)
            if why:
                raise UsageError(f"{option} {rev}: {fw.name}: {why}")


def _unresolved(fw: Framework, cache: Path, rev: str) -> str | None:
    """Why `rev` is not a revision of `fw` (None where it is, or where the history cannot be had here)."""
    cached = cached_history(fw, cache)
    try:
        if cached is not None:
            cached.resolve(rev)
            return None
    except HistoryError:
        pass  # maybe newer than the cache: asked of the history opened afresh
    if not readiness(fw, cache).ready:
        return None
    try:
        history = open_history(fw, cache)
    except HistoryError:
        return None
    try:
        history.resolve(rev)
    except HistoryError as exc:
        return str(exc)
    return None
