"""Frameworks of the seed report whose adapters are not written yet: listed and reported, never hidden."""
from __future__ import annotations

from tracker.adapters.base import Adapter, Job
from tracker.records import ModelResult


class _Pending(Adapter):
    unsupported_reason = "not yet supported: no adapter written yet"

    def prove(self, job: Job) -> ModelResult:
        return job.new_result().fail("unsupported", self.unsupported_reason)


def pending(name: str) -> type[Adapter]:
    return type(f"Pending{name.title()}Adapter", (_Pending,), {"name": name})
