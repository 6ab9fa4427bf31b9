"""Where each file of a framework's results lives: the one place a path under results/<framework>/ is spelled.

`Layout` keeps the roots (results, html, cache); a `FrameworkStore` is one framework's part of the results,
and every reader and writer of that part asks it for its paths rather than joining names of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker.layout import Layout
from tracker.records import record_name, record_stem

ASV_MACHINE_FILE = "machine.json"
ASV_BENCHMARKS_FILE = "benchmarks.json"
REPORTED_FILE = "reported-regressions.json"
REVISIONS_FILE = "revisions.json"
STATUS_FILE = "status.json"
CONFIRMATIONS_FILE = "confirmations.json"
ASV_DIR = "asv"            # as Layout.asv_results names it
RECORDS_DIR = "records"    # as Layout.records names it


def _under_root(name: str) -> property:
    """A FrameworkStore path that is `name` right under the framework's results."""
    return property(lambda store: store.root / name, doc=f"results/<framework>/{name}")


@dataclass(frozen=True)
class FrameworkStore:
    """results/<framework>/: records, state files, re-measurements, and asv's results."""

    layout: Layout
    framework: str

    @property
    def root(self) -> Path:
        return self.layout.results / self.framework

    # --- state files -------------------------------------------------------------------------------------
    revisions = _under_root(REVISIONS_FILE)
    status = _under_root(STATUS_FILE)
    confirmations = _under_root(CONFIRMATIONS_FILE)
    reported = _under_root(REPORTED_FILE)

    # --- records ---------------------------------------------------------------------------------------
    records = _under_root(RECORDS_DIR)

    def record_dir(self, sha: str) -> Path:
        return self.records / sha

    def record(self, sha: str, model: str, variant: str) -> Path:
        return self.record_dir(sha) / record_name(model, variant)

    builds = _under_root("builds")

    def build_failure(self, sha: str) -> Path:
        return self.builds / f"{sha}.json"

    def build_failures(self) -> list[Path]:
        return sorted(self.builds.glob("*.json"))

    def recorded_shas(self) -> list[str]:
        """Every revision with a records dir."""
        return sorted(p.name for p in self.records.glob("*") if p.is_dir())

    # --- re-measurements (confirmations, bisect, compare), each pair of revisions its own dir ---------------
    def remeasured(self, good: str, bad: str, model: str, variant: str) -> Path:
        return self._pair("remeasure", good, bad, model, variant)

    def remeasured_all(self) -> list[Path]:
        return sorted(self.root.glob("remeasure/*-*/*--*"))

    def bisected(self, good: str, bad: str, model: str, variant: str) -> Path:
        return self._pair("bisect", good, bad, model, variant)

    def compared(self, base: str, head: str, model: str, variant: str) -> Path:
        return self._pair("compare", base, head, model, variant)

    def _pair(self, kind: str, older: str, newer: str, model: str, variant: str) -> Path:
        return self.root / kind / f"{older[:8]}-{newer[:8]}" / record_stem(model, variant)

    def other_line(self, version: str) -> Path:
        return self.root / "other-lines" / version

    # --- asv's results ----------------------------------------------------------------------------------
    asv = _under_root(ASV_DIR)

    @property
    def asv_benchmarks(self) -> Path:
        return self.asv / ASV_BENCHMARKS_FILE

    def asv_machine(self, machine: str) -> Path:
        return self.asv / machine

    def asv_result_files(self, sha: str = "") -> list[Path]:
        """asv's result files (of one commit, when `sha` is given), machine.json left out."""
        pattern = f"*/{sha[:8]}-*.json" if sha else "*/*.json"
        return sorted(p for p in self.asv.glob(pattern) if p.name != ASV_MACHINE_FILE)

    logs = _under_root("logs")


