"""Statuses are one str enum: the files keep the very strings they always had, and old files still load."""
from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from tracker import records
from tracker.measure import ChildCrashed, ChildError, ChildFailed, ChildOutOfMemory, ChildTimeout, Limits, \
    run_measured
from tracker.records import (BUILD_STATUSES, FRAMEWORK_STATUSES, RECORD_STATUSES, REVISION_STATUSES,
                             STAGE_STATUSES, ModelResult, StageResult, Status)

ON_DISK = ["ok", "error", "crashed", "timeout", "out_of_memory", "unsupported", "skipped", "failed", "build_failed",
           "unavailable", "not_run"]


def test_the_strings_on_disk_are_the_ones_written_before_the_enum():
    assert [s.value for s in Status] == ON_DISK
    for status in Status:
        assert json.dumps(status) == json.dumps(status.value)
        assert f"{status}" == str(status) == status.value == status
        assert Status(status.value) is status


def test_every_status_applies_somewhere_and_skipped_only_to_stages():
    applies = {*STAGE_STATUSES, *RECORD_STATUSES, *BUILD_STATUSES, *REVISION_STATUSES, *FRAMEWORK_STATUSES}
    assert applies == set(Status)
    assert Status.SKIPPED in STAGE_STATUSES and Status.SKIPPED not in RECORD_STATUSES
    assert records.OK is Status.OK


def test_the_kind_of_every_child_failure_is_a_stage_status():
    kinds = {cls.kind for cls in (ChildFailed, ChildError, ChildCrashed, ChildTimeout, ChildOutOfMemory)}
    assert kinds == {Status.ERROR, Status.CRASHED, Status.TIMEOUT, Status.OUT_OF_MEMORY}
    assert kinds <= set(STAGE_STATUSES)


def test_a_real_timeout_is_recorded_as_the_string_timeout(tmp_path):
    with pytest.raises(ChildTimeout) as caught:
        run_measured(["sleep", "5"], log_path=tmp_path / "log", limits=Limits(timeout_s=0.3))
    result = ModelResult("f", "r", "m", "v")
    result.add(StageResult("prove", status=caught.value.kind, reason=caught.value.reason))
    path = records.save(tmp_path, result)
    data = json.loads(path.read_text())
    assert (data["status"], data["stages"]["prove"]["status"]) == ("timeout", "timeout")
    assert data["reason"] == "prove: timed out after 0.3 s (limit)"


def test_a_record_written_before_the_enum_loads_and_compares_equal(tmp_path):
    old = {"version": 2, "framework": "f", "revision": "r", "model": "m", "variant": "v", "status": "unsupported",
           "reason": "x", "stages": {"ptau": {"stage": "ptau", "status": "unsupported"},
                                     "prove": {"stage": "prove", "status": "skipped", "reason": "not run: x"}},
           "key": "k"}
    path = tmp_path / "r" / "m--v.json"
    path.parent.mkdir()
    path.write_text(json.dumps(old))
    rec = records.load(path)
    assert rec.status == Status.UNSUPPORTED and rec.stages["prove"].status == Status.SKIPPED
    assert not rec.stages["ptau"].ok
    records.save(tmp_path, rec)
    assert json.loads(path.read_text())["stages"]["prove"]["status"] == "skipped"


# --- no status written as a bare string --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
STATUS_NAMES = {"status", "kind", "verdict"}


def _strings(node: ast.AST | None) -> list[str]:
    """The status strings an expression can be: a literal, a tuple/list/set of them, either arm of `a if c else b`
    (and a (status, reason) tuple's first item)."""
    if isinstance(node, ast.Constant) and node.value in ON_DISK:
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for elt in node.elts for s in _strings(elt)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _is_status(node: ast.AST) -> bool:
    """`status`, `x.status`, `x.kind`, `watch.verdict`, `d.get("status")`."""
    if isinstance(node, ast.Name):
        return node.id in STATUS_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in STATUS_NAMES
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "status")


def _bare_statuses(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        hits: list[str] = []
        if isinstance(node, ast.Compare) and any(_is_status(n) for n in [node.left, *node.comparators]):
            hits = [s for n in [node.left, *node.comparators] for s in _strings(n)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "fail":
            hits = _strings(node.args[0]) if node.args else []
        elif isinstance(node, ast.keyword) and node.arg == "status":
            hits = _strings(node.value)
        elif isinstance(node, ast.Dict):
            hits = [s for k, v in zip(node.keys, node.values)
                    if isinstance(k, ast.Constant) and k.value == "status" for s in _strings(v)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and \
                    isinstance(node.value, ast.Tuple) else [(target, node.value)]
                hits += [s for t, v in pairs if _is_status(t) for s in _strings(v)]
        elif isinstance(node, ast.Return) and isinstance(node.value, (ast.Tuple, ast.IfExp)):
            hits = _strings(node.value) if isinstance(node.value, ast.IfExp) else _strings(ast.Tuple(node.value.elts[:1]))
        found += [(node.lineno, s) for s in hits]
    return sorted(found)


def test_no_module_of_the_tracker_writes_or_compares_a_status_as_a_bare_string():
    """The child scripts run in another interpreter, without the tracker, and are left out; so is the asv
    suite, whose methods' source is its benchmarks' asv version (benchmarks/benchmarks.py says why)."""
    found = []
    for path in sorted((ROOT / "tracker").rglob("*.py")):
        if "scripts" in path.relative_to(ROOT).parts:
            continue
        found += [f"{path.relative_to(ROOT)}:{line}: {s!r}" for line, s in _bare_statuses(ast.parse(path.read_text()))]
    assert found == []


def test_the_check_for_bare_statuses_finds_them():
    code = textwrap.dedent("""\
        result.fail("error", "x")
        StageResult("p", status="skipped")
        if rec.status != "ok": pass
        if exc.kind in ("timeout", "out_of_memory"): pass
        marker = {"status": "failed"}
        stage.status, stage.reason = "error", "r"
        status = "unsupported" if x else "error"
        def f():
            return ("unavailable", why) if why else ("not_run", "")
        """)
    assert _bare_statuses(ast.parse(code)) == [
        (1, "error"), (2, "skipped"), (3, "ok"), (4, "out_of_memory"), (4, "timeout"), (5, "failed"), (6, "error"),
        (7, "error"), (7, "unsupported"), (9, "not_run"), (9, "unavailable")]
