"""Shared fixtures: where tests may cache slow things (venvs, npm prefixes, SRS/ptau files) between runs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def test_cache() -> Path:
    """A cache that outlives one test session (CI starts with none and fills it once)."""
    path = Path(os.environ.get("ZKML_TEST_CACHE", "/tmp/zkml-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path
