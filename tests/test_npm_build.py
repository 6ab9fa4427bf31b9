"""`npm` recipes install from npm's cache where it holds the packages (--prefer-offline), and the ordinary
way where it does not: a real npm against the registry, one small package (circomlib-ml has no
dependencies), built through `ensure_build` as a run builds it."""
from __future__ import annotations

from datetime import datetime, timezone

from tracker.adapters import get_adapter
from tracker.build import ensure_build
from tracker.adapters import load_config
from tracker.history.revisions import Revision
from tracker.records import Status

CONFIG = """\
version: 1
frameworks:
  - name: templates
    adapter: circom
    proof_system: none
    model_format: circom
    history:
      kind: releases
      package: {registry: npm, name: circomlib-ml}
    build:
      kind: npm
      requirements: ["circomlib-ml@{version}"]
"""


def build(tmp_path, version: str):
    (tmp_path / "frameworks.yaml").write_text(CONFIG)
    fw = load_config(tmp_path / "frameworks.yaml").framework("templates")
    revision = Revision(version.encode().hex()[:40].ljust(40, "0"), version,
                        datetime(2024, 1, 1, tzinfo=timezone.utc), version=version)
    return ensure_build(fw, revision, get_adapter("circom"), tmp_path / "cache")


def npm_lines(outcome) -> list[str]:
    return [line for line in outcome.log.read_text().splitlines() if line.startswith("$ npm install")]


def test_an_npm_build_asks_the_cache_first(tmp_path):
    outcome = build(tmp_path, "1.4.4")
    assert outcome.build is not None, outcome.reason
    assert (outcome.build.node_prefix / "node_modules" / "circomlib-ml" / "circuits" / "ReLU.circom").is_file()
    [line] = npm_lines(outcome)  # a cache that held it, or npm fetched what it lacked: one install either way
    assert "--prefer-offline" in line and line.endswith("circomlib-ml@1.4.4")


def test_an_install_the_cache_cannot_make_is_tried_the_ordinary_way_and_a_real_failure_stays_one(tmp_path):
    outcome = build(tmp_path, "0.0.0-never-released")
    assert outcome.build is None and outcome.status == Status.FAILED and not outcome.retry
    first, second = npm_lines(outcome)
    assert "--prefer-offline" in first and "--prefer-offline" not in second
    assert second.endswith("circomlib-ml@0.0.0-never-released")
