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


@pytest.fixture(scope="session")
def tracker_cache(test_cache) -> Path:
    """The tracker's own cache layout (builds, stage data, work dirs) inside the test cache."""
    return test_cache / "tracker-cache"


@pytest.fixture(scope="session")
def circom_build(tracker_cache):
    """circomlib-ml's npm prefix at tests.test_circom_adapter.VERSION: (framework, build)."""
    from datetime import datetime, timezone

    from tests.test_circom_adapter import VERSION
    from tracker.adapters import get_adapter
    from tracker.build import ensure_build
    from tracker.adapters import load_config
    from tracker.history.revisions import Revision

    framework = load_config(ROOT / "frameworks.yaml").framework("circom")
    revision = Revision("c1" * 20, VERSION, datetime(2023, 7, 1, tzinfo=timezone.utc), version=VERSION)
    outcome = ensure_build(framework, revision, get_adapter("circom"), tracker_cache)
    assert outcome.build is not None, outcome.reason
    return framework, outcome.build


@pytest.fixture(scope="session")
def circom_linear(circom_build, tracker_cache, tmp_path_factory):
    """One real circom proof of `linear` (2 prove samples, 100 evaluation images), made once for every
    test that only reads it: (job, result). A test that damages its files puts them back."""
    from tests.test_circom_adapter import make_job
    from tracker.adapters.circom import CircomAdapter

    job = make_job(circom_build, tracker_cache, tmp_path_factory.mktemp("circom-linear"), "linear")
    return job, CircomAdapter().prove(job)


def load_bench() -> ModuleType:
    """bench/tracker_cost.py, a script rather than a package module, loaded for its helpers."""
    spec = importlib.util.spec_from_file_location("tracker_cost", ROOT / "bench" / "tracker_cost.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
