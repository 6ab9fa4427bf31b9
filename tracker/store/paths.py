"""Where each file of a framework's results lives: the one place a path under results/<framework>/ is spelled.

`Layout` keeps the roots (results, html, cache); a `FrameworkStore` is one framework's part of the results,
and every reader and writer of that part asks it for its paths rather than joining names of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker.layout import Layout
from tracker.records import record_name, record_stem  # noqa: F401  (the store names records so)

ASV_MACHINE_FILE = "machine.json"
ASV_BENCHMARKS_FILE = "benchmarks.json"
REPORTED_FILE = "reported-regressions.json"
REVISIONS_FILE = "revisions.json"
STATUS_FILE = "status.json"
CONFIRMATIONS_FILE = "confirmations.json"
ASV_DIR = "asv"            # as Layout.asv_results names it
RECORDS_DIR = "records"    # as Layout.records names it


@dataclass(frozen=True)
class FrameworkStore:
    """results/<framework>/: records, state files, re-measurements, and asv's results."""

    layout: Layout
    framework: str

    @property
    def root(self) -> Path:
        return self.layout.results / self.framework

    # --- state files -------------------------------------------------------------------------------------
    @property
    def revisions(self) -> Path:
        return self.root / REVISIONS_FILE

    @property
    def status(self) -> Path:
        return self.root / STATUS_FILE

    @property
    def confirmations(self) -> Path:
        return self.root / CONFIRMATIONS_FILE

    @property
    def reported(self) -> Path:
        return self.root / REPORTED_FILE

    # --- records ---------------------------------------------------------------------------------------
    @property
    def records(self) -> Path:
        return self.root / RECORDS_DIR

    def record_dir(self, sha: str) -> Path:
        return self.records / sha

    def record(self, sha: str, model: str, variant: str) -> Path:
        return self.record_dir(sha) / record_name(model, variant)

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    def build_failure(self, sha: str) -> Path:
        return self.builds / f"{sha}.json"

    def build_failures(self) -> list[Path]:
        return sorted(self.builds.glob("*.json"))

    def recorded_shas(self) -> list[str]:
        """Every revision with a records dir."""
        return sorted(p.name for p in self.records.glob("*") if p.is_dir())

    # --- re-measurements (confirmations, bisect, compare), each pair of revisions its own dir ---------------
    def remeasured(self, good: str, bad: str, model: str, variant: str) -> Path:
        return self.root / "remeasure" / f"{good[:8]}-{bad[:8]}" / record_stem(model, variant)

    def remeasured_all(self) -> list[Path]:
        return sorted(self.root.glob("remeasure/*-*/*--*"))

    def bisected(self, good: str, bad: str, model: str, variant: str) -> Path:
        return self.root / "bisect" / f"{good[:8]}-{bad[:8]}" / record_stem(model, variant)

    def compared(self, base: str, head: str, model: str, variant: str) -> Path:
        return self.root / "compare" / f"{base[:8]}-{head[:8]}" / record_stem(model, variant)

    def other_line(self, version: str) -> Path:
        return self.root / "other-lines" / version

    # --- asv's results ----------------------------------------------------------------------------------
    @property
    def asv(self) -> Path:
        return self.root / ASV_DIR

    @property
    def asv_benchmarks(self) -> Path:
        return self.asv / ASV_BENCHMARKS_FILE

    def asv_machine(self, machine: str) -> Path:
        return self.asv / machine

    def asv_result_files(self, sha: str = "") -> list[Path]:
        """asv's result files (of one commit, when `sha` is given), machine.json left out."""
        pattern = f"*/{sha[:8]}-*.json" if sha else "*/*.json"
        return sorted(p for p in self.asv.glob(pattern) if p.name != ASV_MACHINE_FILE)

    @property
    def logs(self) -> Path:
        return self.root / "logs"


