"""A step settled by its re-measurements, and where it is looked for when its own pair was not confirmed.

A step placed by the records can be up to three revisions off (one value a revision of a noisy metric), and
a pair is re-measured for every metric at once: so a step not confirmed at its pair is looked for in its
span (the revisions three either side, as one pair) and then that span's pairs; it takes a pair near it
confirmed for its metric; a pair confirmed where no change stands, or a span that rose beyond the steps found
in it, is a change of its own; and a pair confirmed inside a span that did not move is chance. The README's
"How a verdict is made", step 4, says why.
"""
from __future__ import annotations

import math
import statistics
from typing import Sequence

from tracker.metrics import METRICS, Metric, cpu_metric
from tracker.report.change import Change, Point, Settings, pair_key
from tracker.report.segment import WINDOW_RUNS, log_ratio, run_values, split_gains
from tracker.report.stats import compare

NEIGHBOUR_REACH = 2     # a step not confirmed at its pair is looked for this many revisions either side ...
NEIGHBOURS = 2          # ... at this many pairs at most
SIDE_REACH = 3          # ... or this many either side, its span (`span_of`), the side its level points to first


def settle(change: Change, confirmations: dict[str, dict]) -> None:
    """A measured step takes the verdict of its re-measured pair. Not confirmed, it is not called noise
    before it was looked for around its pair (`searched`: its span, then the span's pairs, `pending` until
    measured), and if a pair near it is confirmed the step is that pair's."""
    if not change.metric.measured or change.pair not in confirmations:
        return  # a new step's own pair is pending from the start (`measured_changes`)
    change.pending = []
    apply_confirmation(change, confirmations[change.pair])
    if change.status != "not_confirmed":
        return
    near = confirmed_near(change, confirmations) if change.screened_rise else []
    if near:
        change.moved_from, (change.good, change.bad) = change.pair, near[0]
        change.status, change.confirmation = "not_confirmed", None
        apply_confirmation(change, confirmations[change.pair])
        return
    own = confirmations[change.pair].get("metrics", {}).get(change.metric.name)
    change.pending = searched(change, own, confirmations)
    if change.pending:
        change.status = "candidate"


def apply_confirmation(change: Change, pair: dict | None) -> None:
    """A candidate (or a step too early to tell) whose pair was re-measured takes that verdict for its
    metric; "too_few" (the rounds could not reach alpha) leaves it where it was, with the evidence."""
    if change.status not in ("candidate", "too_early", "not_confirmed") or not pair:
        return
    change.remeasured = True
    judged = pair.get("metrics", {}).get(change.metric.name)
    if judged is None:  # no fresh samples: the stage was read back from the stage cache, or failed
        return
    change.confirmation = {**judged, "rounds": pair.get("rounds"), "measured": pair.get("measured")}
    if judged["verdict"] == "confirmed" and not change.screened_rise:
        judged = {**judged, "verdict": "not_confirmed"}
        change.confirmation.update(verdict="not_confirmed", contradicts=(
            f"the records showed no rise here; measured again it rose {judged['ratio']:.2f}x: a rise no "
            "screen chose (the pair was re-measured for another metric), not reported"))
    if judged["verdict"] != "too_few":
        change.status = judged["verdict"]
    cpu = cpu_metric(change.metric)
    if cpu is not None and cpu.name in pair.get("metrics", {}):
        change.cpu_ratio = pair["metrics"][cpu.name]["ratio"]


def confirmed_near(change: Change, confirmations: dict[str, dict]) -> list[tuple[Point, Point]]:
    """The pairs near a step not confirmed at its own (its `reach`, else its `neighbours`) already measured
    again with its metric confirmed there, nearest first: whichever step asked for their re-measurement, the
    step is there (two steps of one metric side by side in the corpus had the second's pair confirmed, and
    nothing to report it by). Only for a step a rise chose (`Change.screened_rise`): a fall moved onto a
    rise confirmed nearby would stand there not confirmed, in the way of the rise's own change."""
    near = [(abs(offset), good, bad) for offset, good, bad, _ in change.reach] or \
        [(0, good, bad) for good, bad in change.neighbours]
    out = []
    for _, good, bad in sorted(near, key=lambda t: t[0]):
        key = pair_key(change.model, change.variant, good.sha, bad.sha)
        judged = confirmations.get(key, {}).get("metrics", {}).get(change.metric.name)
        if judged and judged["verdict"] == "confirmed" and key not in change.quiet:
            out.append((good, bad))
    return out


def searched(change: "Change", judged: dict | None, confirmations: dict[str, dict]) -> list[tuple[Point, Point]]:
    """The pairs to re-measure next for a step not confirmed at its pair, none confirmed within reach: first
    its `span` (the revisions either end of its reach, as one pair); a span that did not move either says the
    step was noise. Confirmed, the step is somewhere in it, so its pairs are re-measured NEIGHBOURS at a
    time, those `looked_for` first, then the rest of its reach (best split first), until one is confirmed
    or none is left. One value a revision (peak memory), or wall samples as loaded as the step is large,
    place a step up to three revisions off and on either side of where the records put it."""
    measured = lambda good, bad: pair_key(change.model, change.variant, good.sha, bad.sha) in confirmations
    if change.span is None:
        return [(g, b) for g, b in looked_for(change, judged) if not measured(g, b)]
    span = confirmations.get(pair_key(change.model, change.variant, change.span[0].sha, change.span[1].sha))
    if span is None:
        return [change.span]
    if span.get("metrics", {}).get(change.metric.name, {}).get("verdict") != "confirmed":
        return []
    order = looked_for(change, judged) + [(g, b) for _, g, b, _ in change.reach]
    left = list(dict.fromkeys((g, b) for g, b in order if not measured(g, b)))
    return left[:NEIGHBOURS]


def side_of(change: "Change", judged: dict | None) -> int:
    """Where a step not confirmed at its pair lies, from the pair measured again: both its revisions at the
    level the records show before the step, it lies later (+1); at the level after it, earlier (-1); 0
    where the re-measurement cannot say (no levels, or a level no nearer one than the other). The records'
    one value a revision places a 1.2x memory step (against a run-to-run spread of 0.13) up to three
    revisions off; the pair's interleaved runs put its two revisions on one level far more surely."""
    if not judged or change.comparison is None:
        return 0
    old, new, before, after = (change.comparison.before, change.comparison.after, judged.get("before"),
                               judged.get("after"))
    if not all(isinstance(v, (int, float)) and v > 0 for v in (old, new, before, after)) or old == new:
        return 0
    level = (math.log(before) + math.log(after)) / 2
    to_old, to_new = abs(level - math.log(old)), abs(level - math.log(new))
    return 1 if to_old < to_new else -1 if to_new < to_old else 0


def looked_for(change: "Change", judged: dict | None) -> list[tuple[Point, Point]]:
    """The pairs to re-measure for a step not confirmed at its pair: the NEIGHBOURS best plausible pairs
    within SIDE_REACH on the side its re-measured pair points to, else its `neighbours`."""
    side = side_of(change, judged)
    if not side or not change.reach:
        return change.neighbours
    return [(good, bad) for offset, good, bad, plausible in change.reach if offset * side > 0 and plausible][:NEIGHBOURS]


def span_of(series: list[Point], k: int, placed: Sequence[int] = ()) -> tuple[Point, Point] | None:
    """The revisions either end of the pairs up to SIDE_REACH off a step placed at k, short of the other
    steps `placed` in the series: measured again as one pair, they say whether the step is anywhere near
    before its pairs are searched one by one. A span across another step measures both (a 2.4x step three
    commits after a 0.34x one measured 0.76x across both, and was called noise)."""
    lo = max([0, k - 1 - SIDE_REACH] + [j for j in placed if j < k])
    hi = min([len(series) - 1, k + SIDE_REACH] + [j - 1 for j in placed if j > k])
    return None if (lo, hi) == (k - 1, k) else (series[lo], series[hi])


def neighbours(series: list[Point], k: int, rose: bool, min_effect: float) -> list[tuple[Point, Point]]:
    """Where the step may really be when the pair at k is not confirmed: of the boundaries j up to
    NEIGHBOUR_REACH revisions either side whose own two revisions moved the same way by half the minimum
    effect (a revision half way between the levels, as a loaded machine leaves one, moves the placement),
    or that `could_be_at` (a pair's own two runs of a noisy metric can fall across a real step), the
    NEIGHBOURS that split the revisions around k best (energy distance of one value a revision). One value
    a run of a metric as noisy as its step (peak memory: 0.13 against a 1.2x step) leaves a step placed two
    revisions off as often as one."""
    near = [j for j in range(k - NEIGHBOUR_REACH, k + NEIGHBOUR_REACH + 1)
            if j != k and 1 <= j < len(series) and plausible(series, j, k, rose, min_effect)]
    gain = split_gains(series, max(0, k - WINDOW_RUNS), min(len(series), k + WINDOW_RUNS))
    return [(series[j - 1], series[j]) for j in sorted(sorted(near, key=lambda j: -gain[j])[:NEIGHBOURS])]


def reach(series: list[Point], k: int, rose: bool, min_effect: float) -> list[tuple[int, Point, Point, bool]]:
    """Every pair up to SIDE_REACH revisions either side of a step placed at k, as (offset, good, bad,
    plausible), the pairs that split the revisions around k best first (energy distance of one value a
    revision): where to look once the re-measured pair at k says on which side the step lies (`side_of`).
    Plausible: the pair's own revisions moved the step's way, or the step `could_be_at` it."""
    gain = split_gains(series, max(0, k - WINDOW_RUNS - 1), min(len(series), k + WINDOW_RUNS + 1))
    near = [j for j in range(k - SIDE_REACH, k + SIDE_REACH + 1) if j != k and 1 <= j < len(series)]
    return [(j - k, series[j - 1], series[j], plausible(series, j, k, rose, min_effect))
            for j in sorted(near, key=lambda j: -gain[j])]


def plausible(series: list[Point], j: int, k: int, rose: bool, min_effect: float) -> bool:
    """Whether a step placed at k may really be at j: the pair's own revisions moved the step's way, or
    the step `could_be_at` it."""
    return _pair_moved(series, j, rose, min_effect) or could_be_at(series, j, k, rose, min_effect)


def _pair_moved(series: list[Point], j: int, rose: bool, min_effect: float) -> bool:
    a, b = list(series[j - 1].values), list(series[j].values)
    return log_ratio(a, b) >= math.log1p(min_effect) / 2 and (statistics.median(b) > statistics.median(a)) == rose


def could_be_at(series: list[Point], j: int, k: int, rose: bool, min_effect: float) -> bool:
    """Whether a step placed at k may be at j instead: the two revisions before both and the two after
    both moved the way the step did by half the minimum effect, and every revision between j and k is
    nearer the level a step at j gives it (the new one if j comes first, the old one if k does)."""
    a, b = min(j, k), max(j, k)
    before, after = run_values(series, a - 1, -1, -1, 2), run_values(series, b, len(series), 1, 2)
    old, new = math.log(statistics.median(before)), math.log(statistics.median(after))
    if (new > old) != rose or abs(new - old) < math.log1p(min_effect) / 2:
        return False
    nearer_new = [abs(math.log(x) - new) < abs(math.log(x) - old) for x in run_values(series, a, b, 1, b - a)]
    return all(nearer_new) if j < k else not any(nearer_new)


def confirmed_alone(changes: list[Change], every: dict[str, list[Point]], confirmations: dict[str, dict],
                    settings: Settings, quiet: dict[str, frozenset] | None = None) -> list[Change]:
    """A change at every neighbouring pair of the series re-measured and confirmed for a measured metric
    that no change of that metric stands at: two steps side by side (a CPU step at 10 and a wait at 11) each
    had their pair confirmed, one change moved onto the first and the second's pair, re-measured as its
    neighbour, had nothing to report it by. Only where a rise chose it: the pair's own records rose by half
    the metric's minimum effect, or for a wall time, the same stage's CPU time was confirmed there too."""
    if not changes:
        return []
    first = changes[0]
    stood = {(c.metric.name, c.good.sha, c.bad.sha) for c in changes}

    def confirmed(metric: Metric, good: Point, bad: Point) -> bool:
        judged = confirmations.get(pair_key(first.model, first.variant, good.sha, bad.sha), {}).get("metrics", {})
        return judged.get(metric.name, {}).get("verdict") == "confirmed"

    out = []
    for metric in (m for m in METRICS if m.measured):
        series, cpu = every.get(metric.name, []), cpu_metric(metric)
        cpu_series = every.get(cpu.name, []) if cpu else []
        cpu_at = {(a.sha, b.sha): j for j, (a, b) in enumerate(zip(cpu_series, cpu_series[1:]), start=1)}
        for j in range(1, len(series)):
            good, bad = series[j - 1], series[j]
            if (metric.name, good.sha, bad.sha) in stood or not confirmed(metric, good, bad) \
                    or pair_key(first.model, first.variant, good.sha, bad.sha) in (quiet or {}).get(metric.name, ()):
                continue
            c = cpu_at.get((good.sha, bad.sha))
            cpu_too = c is not None and confirmed(cpu, good, bad) and _pair_moved(cpu_series, c, True, settings.effect(cpu))
            if cpu_too or _pair_moved(series, j, True, settings.effect(metric)):
                out.append(Change(first.framework, first.model, first.variant, metric, good, bad,
                                  compare(good.values, bad.values), "candidate", cpu_stepped=cpu_too, recs=first.recs))
    return out


def spans_beyond(changes: list[Change], every: dict[str, list[Point]], confirmations: dict[str, dict],
                 settings: Settings) -> list[Change]:
    """A step looked for inside every span (two revisions more than one apart, re-measured as one pair) whose
    rise was confirmed for a measured metric beyond what the changes of that metric inside it explain: none
    stands there, or those confirmed there rose less than the span by the minimum effect. A span is measured
    for every metric at once, so one asked for by another metric's step, or one that held a step found
    already, was read for that step alone, and the step beside it was lost (a 1.36x memory step at the
    newest commit, three commits after a 1.6x one, in the corpus). Only where the records rose across the
    span by half the minimum effect (a rise chose it); its pairs are then re-measured NEIGHBOURS at a time,
    best split first, and the first confirmed is the step. A pair's own confirmation still decides, so a
    span confirmed by chance reports nothing."""
    if not changes:
        return []
    first, out = changes[0], []
    for metric in (m for m in METRICS if m.measured):
        series = every.get(metric.name, [])
        at = {p.sha: i for i, p in enumerate(series)}
        mine = [c for c in changes if c.metric.name == metric.name]
        for lo, hi, judged in measured_spans(first.model, first.variant, metric, series, confirmations):
            if judged.get("verdict") != "confirmed":
                continue
            found = _inside_span(mine, at, lo, hi, judged.get("ratio", 1.0), settings.effect(metric))
            if found is not None and _rose_across(series, lo, hi, settings.effect(metric)):
                change = _looked_for_in_span(first, metric, series, lo, hi, found, confirmations)
                if change is not None:
                    out.append(change)
    return out


def _inside_span(mine: list[Change], at: dict[str, int], lo: int, hi: int, ratio: float,
                 effect: float) -> set[int] | None:
    """The pairs (by index) a metric's changes hold inside a span, or None where they explain its rise: one
    of them is still being looked for, or those confirmed rose as far as the span, within the minimum effect."""
    rose: dict[int, float] = {}  # pair -> its confirmed rise (two changes moved onto one pair count once)
    for c in mine:
        k = at.get(c.bad.sha)
        if k is None or not lo < k <= hi:
            continue
        rose.setdefault(k, 0.0)
        if c.pending and c.status in ("candidate", "too_early"):
            return None
        if c.status == "confirmed" and c.confirmation and c.confirmation.get("ratio", 0) > 0:
            rose[k] = max(rose[k], math.log(c.confirmation["ratio"]))
    explained = sum(rose.values())
    return None if ratio <= 0 or math.log(ratio) - explained < math.log1p(effect) else set(rose)


def _rose_across(series: list[Point], lo: int, hi: int, effect: float) -> bool:
    a, b = statistics.median(series[lo].values), statistics.median(series[hi].values)
    return b > a and log_ratio(list(series[lo].values), list(series[hi].values)) >= math.log1p(effect) / 2


def _looked_for_in_span(first: Change, metric: Metric, series: list[Point], lo: int, hi: int, held: set[int],
                        confirmations: dict[str, dict]) -> Change | None:
    """The change a span that rose beyond its steps stands for: at the first of its other pairs confirmed
    for the metric (confirmed there), else pending on the next NEIGHBOURS of them not yet re-measured (best
    split first), else none: every pair measured again, none confirmed."""
    gain = split_gains(series, lo, hi + 1)
    pairs = [j for j in sorted(range(lo + 1, hi + 1), key=lambda j: -gain[j]) if j not in held]
    key = lambda j: pair_key(first.model, first.variant, series[j - 1].sha, series[j].sha)
    judged = lambda j: confirmations.get(key(j), {}).get("metrics", {}).get(metric.name, {})
    confirmed = [j for j in pairs if judged(j).get("verdict") == "confirmed"]
    waiting = [j for j in pairs if key(j) not in confirmations]
    if not confirmed and not waiting:
        return None
    j = confirmed[0] if confirmed else waiting[0]
    good, bad = series[j - 1], series[j]
    change = Change(first.framework, first.model, first.variant, metric, good, bad, compare(good.values, bad.values),
                    "candidate", from_span=True, recs=first.recs,
                    note=f"looked for in the span {series[lo].sha[:8]}..{series[hi].sha[:8]}, which rose when "
                         "measured again beyond the steps found in it")
    if confirmed:
        apply_confirmation(change, confirmations[key(j)])
    else:
        change.pending = [(series[i - 1], series[i]) for i in waiting[:NEIGHBOURS]]
    return change


def quiet_pairs(model: str, variant: str, metric: Metric, series: list[Point], confirmations: dict[str, dict],
                effect: float) -> frozenset[str]:
    """The pairs (keys) inside a span of the series re-measured for the metric that moved by less than half
    its minimum effect either way: measured end to end in interleaved rounds, the revisions around them say
    nothing moved there, so a confirmation of one of those pairs alone (asked for by another metric or
    another step) is the chance a confirmation's alpha allows, not a step. In the corpus, three of the six
    CPU-time reports where nothing had moved on seeds 3, 6 and 7 were such pairs, in spans at 0.96-1.03x. A
    span that fell may hold a rise beside the fall (a 1.5x wait step three commits before a 0.51x one, in
    a span at 0.74x), and is not quiet."""
    out = set()
    for lo, hi, judged in measured_spans(model, variant, metric, series, confirmations):
        ratio = judged.get("ratio", 0.0)
        if judged.get("verdict") != "confirmed" and 0 < ratio and abs(math.log(ratio)) < math.log1p(effect) / 2:
            out |= {pair_key(model, variant, series[j - 1].sha, series[j].sha) for j in range(lo + 1, hi + 1)}
    return frozenset(out)


def measured_spans(model: str, variant: str, metric: Metric, series: list[Point],
                   confirmations: dict[str, dict]) -> list[tuple[int, int, dict]]:
    """(lo, hi, the metric's verdict) of every pair of revisions of the series more than one apart (a span)
    re-measured with the metric, lo and hi their places in the series."""
    at = {p.sha: i for i, p in enumerate(series)}
    out = []
    for key, entry in confirmations.items():
        m, v, good, bad = key.split("|")
        judged = entry.get("metrics", {}).get(metric.name)
        if (m, v) == (model, variant) and judged and good in at and bad in at and at[bad] - at[good] >= 2:
            out.append((at[good], at[bad], judged))
    return out


def mark_quiet(changes: list[Change], quiet: dict[str, frozenset]) -> list[Change]:
    for c in changes:
        c.quiet = quiet.get(c.metric.name, frozenset())
    return changes
