"""Shared fixtures: where tests may cache slow things (venvs, npm prefixes, SRS/ptau files) between runs."""
from __future__ import annotations

import fcntl
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cache_dir() -> Path:
    path = Path(os.environ.get("ZKML_TEST_CACHE", "/tmp/zkml-test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def test_cache() -> Path:
    """A cache that outlives one test session (CI starts with none and fills it once)."""
    return test_cache_dir()


@pytest.fixture(scope="session", autouse=True)
def machine_ptau_dir() -> Path:
    """The machine-wide ptau directory (tracker.adapters.ptau) inside the test cache, unless one is set."""
    return Path(os.environ.setdefault("ZKML_PTAU_DIR", str(test_cache_dir() / "ptau")))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Which tests pytest-xdist keeps on one worker (`-n 2 --dist loadgroup`, pyproject's addopts): every
    test that builds into the tracker cache, since nothing stops two workers building one revision into one
    dir at once, and each module whose tests share a module fixture, made once; the others go one by one."""
    for item in items:
        if "tracker_cache" in item.fixturenames:
            group = "tracker-cache"
        elif any(defs[-1].scope == "module" for defs in item._fixtureinfo.name2fixturedefs.values()):
            group = item.module.__name__
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))


def installed_assets(test_cache: Path) -> str | None:
    """asv's page libraries in the test cache (tracker.publish.offline), installed by one worker at a time:
    None when they are there, else why not."""
    from tracker.publish.offline import ensure_assets

    with open(test_cache / "asv-www.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return ensure_assets(test_cache)


@pytest.fixture(scope="session")
def site_assets(test_cache) -> Path:
    """asv's page libraries, installed from npm once for the session (publish copies them into each site)."""
    from tracker.publish.offline import asset_dir

    why = installed_assets(test_cache)
    if why:
        pytest.skip(f"asv's page libraries cannot be installed here: {why}")
    return asset_dir(test_cache)


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
