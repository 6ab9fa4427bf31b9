"""Which machine measured a revision: a timing step between two hosts, or between two calibrations of one
host that disagree, is the machine's, not the commit's.

Runners may share one machine name (ZKML_TRACKER_MACHINE) so that their points form one asv series; each
record still names the host that made it (tracker.records.machine_info) and the machine's calibration
(tracker.calibration: modular multiplications per CPU second, with its spread). A step whose two sides were
measured on different hosts, or on one host whose calibration moved by more than the two calibrations'
spreads (a new CPU under the same name, a frequency cap), is labelled "machine changed" and never reported
as a regression; only re-measuring both revisions on one machine (`regressions --confirm`) can make it one.
"""
from __future__ import annotations

from tracker import records
from tracker.layout import Layout
from tracker.store.paths import FrameworkStore

FIELD = "bn254_fr"


def record_at(layout: Layout, framework: str, sha: str, model: str, variant: str) -> records.ModelResult | None:
    return records.load(FrameworkStore(layout, framework).record(sha, model, variant))


def cpu_rate(calibration: dict) -> tuple[float, float] | None:
    """(median, spread) of the machine's multiplications per CPU second in a record, where it was measured."""
    try:
        rate = calibration["mmops"][FIELD]["per_cpu_second"]
        return float(rate["median"]), float(rate["spread"])
    except (KeyError, TypeError, ValueError):
        return None


def calibration_change(before: dict, after: dict) -> str:
    """"BN254 42.1 -> 30.2 M multiplications a CPU second" when two calibrations differ by more than the
    sum of their spreads (their repeats' range over the median), else ""."""
    a, b = cpu_rate(before), cpu_rate(after)
    if a is None or b is None or before.get("key") == after.get("key"):
        return ""
    (ra, sa), (rb, sb) = a, b
    if abs(rb - ra) / max(ra, rb) <= sa + sb:
        return ""
    return f"calibration BN254 {ra:.1f} -> {rb:.1f} M multiplications a CPU second"


def machine_change(layout: Layout, change) -> str:
    """"host-a: ... -> host-b: ..." (or the calibration that moved) when the two sides of an unconfirmed
    timing step were measured on different machines, else ""."""
    if change.status not in ("candidate", "too_early"):
        return ""
    before, after = (record_at(layout, change.framework, p.sha, change.model, change.variant)
                     for p in (change.good, change.bad))
    if before is None or after is None:
        return ""
    hosts = records.machine_of(before.machine), records.machine_of(after.machine)
    if all(hosts) and hosts[0] != hosts[1]:
        return f"{hosts[0]} -> {hosts[1]}"
    return calibration_change(before.calibration, after.calibration)
