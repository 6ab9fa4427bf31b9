"""Statuses are one str enum: the files keep the very strings they always had, and old files still load."""
from __future__ import annotations

import json

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
