"""What the nightly has already told: the regressions alerted and the steps listed as noise, per framework.

It lives inside each framework's results (`results/<framework>/reported-regressions.json`), so everything
that carries a framework's results carries it too: the CI workflow's artifacts (one framework each), the
`results` branch, `publish --merge`. Kept at the results root, it was never carried, and the same regression
was alerted again every night. A file found at the old place is moved into the frameworks' dirs, said once.
A torn one is set aside and said: what it held is lost, so its regressions may be alerted once more, which
is better than never.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tracker.fsutil import atomic_write_json, read_state, set_aside
from tracker.layout import Layout
from tracker.store.formats import REPORTED_VERSION
from tracker.store.paths import REPORTED_FILE as NAME, FrameworkStore
from tracker.types import Say

TABLES = ("keys", "noise")  # alerted regressions, steps judged noise; each key (framework, model, variant, metric, sha)


def reported_path(layout: Layout, framework: str) -> Path:
    return FrameworkStore(layout, framework).reported


def read_reported(path: Path, say: Say) -> dict[str, set[tuple]]:
    """table -> the keys in one file; a torn or malformed file is set aside and said."""
    data, torn = read_state(path)
    if torn or (data is not None and not isinstance(data, dict)):
        if not torn:
            set_aside(path)
        say(f"{path}: torn: set aside as {path.name}.torn; what it listed may be alerted once more")
        data = None
    data = data or {}
    return {t: {tuple(k) for k in data.get(t, []) if isinstance(k, list)} for t in TABLES}


def merged(tables: Iterable[dict[str, set[tuple]]]) -> dict[str, set[tuple]]:
    out: dict[str, set[tuple]] = {t: set() for t in TABLES}
    for table in tables:
        for t in TABLES:
            out[t] |= table.get(t, set())
    return out


def write_reported(path: Path, tables: dict[str, set[tuple]]) -> None:
    atomic_write_json(path, {"version": REPORTED_VERSION, **{t: sorted(tables[t]) for t in TABLES}})


def migrate(layout: Layout, say: Say) -> None:
    """Move a results-root file of an older tracker into each framework's dir (merged with what is there)."""
    old = layout.results / NAME
    if not old.exists():
        return
    told = read_reported(old, say)
    remember_reported(layout, told, say)
    old.unlink(missing_ok=True)
    say(f"{NAME} moved from {layout.results} into each framework's results ({len(by_framework(told))} "
        f"framework(s)), where the results branch and the workflow's artifacts carry it")


def load_reported(layout: Layout, frameworks: Iterable[str], say: Say) -> dict[str, set[tuple]]:
    """Everything told before about these frameworks, after moving an old results-root file in."""
    migrate(layout, say)
    return merged(read_reported(reported_path(layout, name), say) for name in frameworks)


def remember_reported(layout: Layout, told: dict[str, set[tuple]], say: Say) -> None:
    """Add what was told now to each framework's file (never writing back less than it held)."""
    for framework, tables in by_framework(told).items():
        path = reported_path(layout, framework)
        write_reported(path, merged([read_reported(path, say), tables]))


def by_framework(told: dict[str, set[tuple]]) -> dict[str, dict[str, set[tuple]]]:
    out: dict[str, dict[str, set[tuple]]] = {}
    for t, keys in told.items():
        for k in keys:
            out.setdefault(k[0], {x: set() for x in TABLES})[t].add(k)
    return out
