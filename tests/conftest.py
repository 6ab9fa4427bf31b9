"""Shared fixtures: where tests may cache slow things (venvs, npm prefixes, SRS/ptau files) between runs."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def test_cache() -> Path:
    """A cache that outlives one test session (CI starts with none and fills it once)."""
    path = Path(os.environ.get("ZKML_TEST_CACHE", "/tmp/zkml-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session", autouse=True)
def machine_ptau_dir(test_cache) -> Path:
    """The machine-wide ptau directory (tracker.adapters.ptau) inside the test cache, unless one is set."""
    path = Path(os.environ.setdefault("ZKML_PTAU_DIR", str(test_cache / "ptau")))
    return path


def load_bench() -> ModuleType:
    """bench/tracker_cost.py, a script rather than a package module, loaded for its helpers."""
    spec = importlib.util.spec_from_file_location("tracker_cost", ROOT / "bench" / "tracker_cost.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
