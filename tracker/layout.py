"""Where one run keeps things: results and html, which users keep, and a cache that can be rebuilt.

A Layout keeps the roots; what lies under results/<framework>/ is the store's (tracker.store.paths), and
the cache's own files are named here.
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

    def asv_config(self, fw: str) -> Path:
        return self.cache / "asv" / fw / "asv.conf.json"

    def step_cache(self, fw: str) -> Path:
        return self.cache / "asv" / fw / "steps"
