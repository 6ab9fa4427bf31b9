"""Which machine measured a revision: a timing step between two hosts is the hosts', not the commit's.

Runners may share one machine name (ZKML_TRACKER_MACHINE) so that their points form one asv series; each
record still names the host that made it (tracker.records.machine_info). A step whose two sides were
measured on different hosts is labelled "machine changed" and never reported as a regression; only
re-measuring both revisions on one machine (`regressions --confirm`) can make it one.
"""
from __future__ import annotations

from tracker import records
from tracker.layout import Layout


def machine_at(layout: Layout, framework: str, sha: str, model: str, variant: str) -> str:
    rec = records.load(records.record_path(layout.records(framework), sha, model, variant))
    return records.machine_of(rec.machine) if rec is not None else ""


def machine_change(layout: Layout, change) -> str:
    """"host-a: ... -> host-b: ..." when the two sides of an unconfirmed timing step were measured on
    different machines, else ""."""
    if change.status != "candidate":
        return ""
    before, after = (machine_at(layout, change.framework, p.sha, change.model, change.variant)
                     for p in (change.good, change.bad))
    return f"{before} -> {after}" if before and after and before != after else ""
