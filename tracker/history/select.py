"""Which revisions a run takes, as asv users expect: latest, pinned, a range, steps, new, shards."""
from __future__ import annotations

from typing import Sequence

from tracker.history.revisions import Revision


def latest(revisions: list[Revision], n: int) -> list[Revision]:
    return revisions[-n:]


def pinned(history, names: Sequence[str]) -> list[Revision]:
    """Revisions by sha, tag or version, in history order (duplicates dropped)."""
    chosen = {history.resolve(n).sha for n in names}
    return [r for r in history.revisions() if r.sha in chosen]


def in_range(history, spec: str) -> list[Revision]:
    good, bad = spec.split("..")
    return history.between(history.resolve(good).sha, history.resolve(bad).sha)


def steps(revisions: list[Revision], n: int) -> list[Revision]:
    """`n` revisions spread evenly over the list, both ends included (asv's --steps)."""
    if n >= len(revisions):
        return list(revisions)
    if n == 1:
        return [revisions[-1]]
    picks = sorted({round(i * (len(revisions) - 1) / (n - 1)) for i in range(n)})
    return [revisions[i] for i in picks]


def new_since(revisions: list[Revision], recorded: set[str], most: int) -> list[Revision]:
    """The newest revisions not yet recorded, at most `most`, oldest first (the nightly's selection)."""
    fresh = [r for r in revisions if r.sha not in recorded]
    return fresh[-most:] if most else fresh


def shard(revisions: list[Revision], i: int, n: int) -> list[Revision]:
    """Shard i of n (1-based): disjoint, and together they are the whole list."""
    return revisions[i - 1::n]


def between(history, good: str, bad: str) -> list[Revision]:
    """The commits strictly between `good` and `bad`, oldest first: what a bisection looks at."""
    return [r for r in history.between(good, bad) if r.sha != bad]
