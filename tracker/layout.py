"""Where one run keeps things: results and html, which users keep, and a cache that can be rebuilt.

Every command finds its files through a Layout; it lives alone so that the commands, the report and the
publisher reach it without importing the asv driver.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Where one run keeps things. Results and html are what users keep; the cache can be rebuilt."""

    results: Path
    html: Path
    cache: Path

    def asv_results(self, fw: str) -> Path:
        return self.results / fw / "asv"

    def records(self, fw: str) -> Path:
        return self.results / fw / "records"

    def builds(self, fw: str) -> Path:
        return self.results / fw / "builds"

    def asv_config(self, fw: str) -> Path:
        return self.cache / "asv" / fw / "asv.conf.json"

    def step_cache(self, fw: str) -> Path:
        return self.cache / "asv" / fw / "steps"

    def logs(self, fw: str) -> Path:
        return self.results / fw / "logs"
