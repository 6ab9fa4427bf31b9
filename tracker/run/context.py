"""A framework opened for work: its history, its asv config and its adapter, made ready in one place.

`run`, `bisect`, `publish` and the re-measurements of `regressions --confirm` all start the same way:
open the framework's history, move the results of releases whose commit changed (tracker.run.release_order),
make sure revisions.json knows every revision kept, set aside asv results something outside left torn,
adopt results earlier trackers wrote (an older environment name, code-hash versions), and (when a publish
needs it) write the framework's asv config. `open_framework` does it once for all of them, and the
`FrameworkContext` it gives is what the run layer's functions take instead of the same six arguments.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tracker import calibration
from tracker.adapters import get_adapter
from tracker.adapters.base import Adapter
from tracker.adapters.readiness import readiness
from tracker.build import BuildOutcome, ensure_build
from tracker.config import Config
from tracker.history import History, open_history
from tracker.history.revisions import Revision
from tracker.layout import Layout
from tracker.run import asv
from tracker.run.release_order import follow_release_order
from tracker.store.state import load_revisions
from tracker.types import Framework, Say
from tracker.store import asv as sink
from tracker.store.paths import FrameworkStore


@dataclass
class FrameworkContext:
    """Everything a command needs to build, prove and publish one framework's revisions."""

    config: Config
    layout: Layout
    fw: Framework
    adapter: Adapter
    history: History
    say: Say

    @cached_property
    def asv_config(self) -> Path:
        """The framework's asv config, derived from the shared asv.conf.json when first needed (a run whose
        selection is empty or wrong never needs it)."""
        return asv.derive_config(self.fw, self.history.repo_path, self.history.branch, self.layout,
                                 self.config.root / "asv.conf.json", self.history.commit_url)

    def build(self, revision: Revision) -> BuildOutcome:
        """The revision's build, from the build cache when it was made before.

        Raises HistoryError when no source tree can be had for a commit history (mirror broken)."""
        checkout = self.history.checkout_fn(revision) if self.fw.history.kind == "commits" else None
        return ensure_build(self.fw, revision, self.adapter, self.layout.cache, checkout=checkout)


def open_framework(config: Config, layout: Layout, fw: Framework, say: Say) -> FrameworkContext:
    """The framework's history opened and its asv state made whole. Raises HistoryError when the history
    cannot be had at all (no mirror and the remote unreachable)."""
    history = open_history(fw, layout.cache)
    follow_release_order(layout, fw.name, history, say)
    load_revisions(layout, fw.name, history.revisions(), say)
    store = FrameworkStore(layout, fw.name)
    for torn in sink.set_aside_torn_results(store):
        say(f"{fw.name}: asv result {torn.name} was torn (cut by something outside the tracker): set aside as "
            f"{torn.name}.torn; a run of the revision writes it again from its records")
    for line in sink.adopt_path_named_results(store):
        say(f"{fw.name}: asv result {line}")
    sink.adopt_explicit_versions(store, say)
    return FrameworkContext(config, layout, fw, get_adapter(fw.adapter), history, say)


class NotReady(Exception):
    """A framework that cannot be built or proved on this machine; the message says why."""


def open_to_measure(config: Config, layout: Layout, fw: Framework, say: Say) -> FrameworkContext:
    """`open_framework` for a command that builds and proves (bisect, compare, confirmations): a framework
    that cannot run here is refused with readiness's reason, before any history is fetched."""
    ready = readiness(fw, layout.cache)
    if not ready.ready:
        raise NotReady(f"{fw.name} cannot run here ({ready.state}): {ready.reason}")
    calibration.before_measuring(say)   # the records it makes carry this machine's calibration
    return open_framework(config, layout, fw, say)
