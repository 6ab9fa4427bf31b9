"""Confirmation: a timing or memory step is re-measured before anyone is told, its two revisions interleaved.

The revision before the step (A) and the suspect (B) are run again A B A B ... (`rounds` of each) on this
machine in this run, through the same build cache, adapter and pipeline as any run. Whatever slows the
machine down while they run (a neighbour, a warm or cold cache) falls on both alike, so a change that stays
is the revision's. The fresh records go to their own directory (results/<fw>/remeasure/...), never over
the records of the run, and each verdict is kept in results/<fw>/confirmations.json (versioned, written
atomically), so the next nightly does not measure the same pair again.

The unit of a verdict is the run, not the sample: the repeats of one run share that run's load (measured
here: a run's whole offset spreads wall time by 0.29 on the log scale, its repeats around it by 0.17), so
each run gives one value, the median of its samples, and the test is on those. The two runs of one round
share the load of their moment too (the correlation of two timings measured back to back was 0.74-0.82 for
wall time here, 0.28-0.55 for CPU time: bench/noise_model.json's `adjacent`), so for a timing the change is
the median of the rounds' own ratios, and once the rounds are enough for it to reach alpha, the test is the
signed-rank test of those ratios: a load that moved between rounds falls out of each ratio, where a test of
the runs as two independent sets counts it as noise (for a 1.3x wall step, 18 rounds confirm about twice as
often). Peak memory shares nothing between runs (no correlation measured), so its runs are two sets. Rounds come in looks
(`LOOKS` at most, each of `rounds_for` rounds, each look tested at confirm_alpha / LOOKS so that all of them
together keep confirm_alpha): a pair confirmed, or clearly not moving (under half the minimum effect),
stops; one in between is measured again, as a perf sheriff retriggers a job. The revisions take turns in
each round, and every other round the order is reversed (A B B A ...), so a load that grows or fades during
the rounds falls on both alike. A pair that still cannot reach alpha is "too_few", never "not_confirmed". A pair
not confirmed is not called noise before the pairs up to three revisions off where it could be were measured too
(tracker.report.search.settle). For a CPU-bound stage whose wall and CPU samples disagree, a wall verdict of
runs judged as two sets rests on the CPU samples (one paired by round has the neighbour divided out already).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from tracker import records
from tracker.config import Config
from tracker.fsutil import atomic_write_json, read_json, read_state, set_aside
from tracker.history import HistoryError
from tracker.layout import Layout
from tracker.metrics import BY_NAME, METRICS, SHARED_LOAD, cpu_metric, samples
from tracker.records import ModelResult, Status
from tracker.report.probe import cpu_bound
from tracker.report.stats import can_decide, compare, paired_compare, samples_needed, smallest_p_paired, with_p
from tracker.report.change import Change, Settings, pair_key
from tracker.report.verdict import disagreement
from tracker.run.context import NotReady, open_to_measure
from tracker.run.remeasure import Remeasurer, interleaved
from tracker.store.formats import CONFIRMATIONS_VERSION
from tracker.store.paths import FrameworkStore
from tracker.store.state import StateRead, peek
from tracker.types import Say

PASSES = 4  # a step, its span, then its pairs NEIGHBOURS at a time (tracker.report.search.searched)
LOOKS = 3   # at most this many looks of rounds at a pair before it is judged on what it has
WALL_WITH_CPU_ALPHA = 0.05  # a CPU-bound stage's wall time rose with its confirmed CPU time (`carried_by_cpu`)


def pooled(metric, recs: Sequence[ModelResult]) -> list[float]:
    return [x for r in recs for x in samples(metric, r)]


def per_run(metric, recs: Sequence[ModelResult]) -> list[float]:
    """One value a run, the median of its samples: the repeats of one run share its load, so they are not
    independent draws and a test must not count them as such."""
    return [statistics.median(v) for r in recs if (v := samples(metric, r))]


def by_round(metric, good: Sequence[ModelResult], bad: Sequence[ModelResult]) -> tuple[list[float], list[float]]:
    """One value a run of each side, `good[i]` and `bad[i]` of the same round, rounds missing either dropped."""
    pairs = [(statistics.median(a), statistics.median(b)) for g, r in zip(good, bad)
             if (a := samples(metric, g)) and (b := samples(metric, r))]
    return [a for a, _ in pairs], [b for _, b in pairs]


def judge(good: Sequence[ModelResult], bad: Sequence[ModelResult], settings: Settings,
          paired: bool = False) -> dict[str, dict]:
    """Every measured metric of a re-measured pair, from one value a run of each side (`per_run`), each
    look's share of confirm_alpha. `paired`: good[i] and bad[i] were measured in the same round, so a
    timing is judged round by round (see the module's docstring)."""
    pooled_of = {m.name: (per_run(m, good), per_run(m, bad)) for m in METRICS if m.measured}
    out = {}
    for name, (a, b) in pooled_of.items():
        if not (a and b):
            continue
        metric = BY_NAME[name]
        rounds = by_round(metric, good, bad) if paired and metric.effect in SHARED_LOAD else None
        out[name] = decide(*(rounds or (a, b)), settings.effect(metric), look_alpha(settings), paired=bool(rounds))
    for name, verdict in out.items():
        cpu = cpu_metric(BY_NAME[name])
        if cpu is not None and cpu.name in out:
            rest_on_cpu(verdict, out[cpu.name], *pooled_of[name], *pooled_of[cpu.name])
            carried_by_cpu(verdict, out[cpu.name], *pooled_of[name], *pooled_of[cpu.name])
    return out


def decide(a: Sequence[float], b: Sequence[float], min_effect: float, alpha: float, paired: bool = False) -> dict:
    """One metric of a re-measured pair: "confirmed" when `b` is larger by at least the minimum effect and a
    one-sided test gives p below alpha; "too_few" when these sample counts cannot reach alpha at all (the
    evidence then says how many would); else "not_confirmed". `paired` (a[i] and b[i] of one round): the
    change is the median of the rounds' ratios, and the signed-rank test of them decides where that many
    rounds can reach alpha, else Mann-Whitney on the runs."""
    c, test = compare(a, b, alternative="greater"), "Mann-Whitney"
    if paired and min(a + b) > 0:
        rounds = paired_compare(a, b, alternative="greater")
        if smallest_p_paired(len(a), "greater") < alpha:
            c, test = rounds, "signed-rank, paired by round"
        else:
            c = with_p(rounds, c.p_value)
    big = c.ratio > 0 and math.isfinite(c.ratio) and math.log(c.ratio) >= math.log1p(min_effect)
    if not can_decide(len(a), len(b), alpha, "greater"):
        return {"verdict": "too_few", "needs": samples_needed(alpha, "greater"), "alpha": alpha, **c.to_json()}
    return {"verdict": "confirmed" if big and c.p_value < alpha else "not_confirmed", "test": test, **c.to_json()}


def look_alpha(settings: Settings) -> float:
    """The alpha of each look at a pair: together, LOOKS of them keep confirm_alpha (Bonferroni)."""
    return settings.confirm_alpha / LOOKS


def settled(verdicts: dict[str, dict], settings: Settings, asked: frozenset[str] = frozenset()) -> bool:
    """No more rounds needed: every metric that got worse is confirmed or moved under half its minimum
    effect (measuring more would not change the verdict). Only the metrics that asked for the pair (and
    their other clock) are waited for, where known: a verify stage that is a process start-up wanders
    1.1-1.2x with the load and, waited for, took a 2x prove step through three looks instead of one."""
    waited = with_other_clock(asked) if asked else set(verdicts)
    for name, v in verdicts.items():
        if name not in waited:
            continue
        half = math.log1p(settings.effect(BY_NAME[name])) / 2
        ratio = v.get("ratio", 1.0)
        if v["verdict"] != "confirmed" and ratio > 0 and math.isfinite(ratio) and math.log(ratio) >= half:
            return False
    return True


def with_other_clock(names: frozenset[str]) -> set[str]:
    """The metrics named, with the CPU time of each wall time and the wall time of each CPU time."""
    out = set(names)
    for metric in METRICS:
        cpu = cpu_metric(metric)
        if cpu is not None and (metric.name in names or cpu.name in names):
            out |= {metric.name, cpu.name}
    return out


def rest_on_cpu(wall: dict, cpu: dict, wall_a, wall_b, cpu_a, cpu_b) -> None:
    """A wall-time verdict of a CPU-bound stage whose wall and CPU samples disagree takes the CPU verdict:
    a commit is never blamed on wall samples a neighbour stretched. Not a verdict paired by round: each
    round's two runs share the load of their moment, so a neighbour falls out of the round's ratio, and a
    rise in every round that the CPU time does not show is the stage's own (it started to wait). The spread
    of its runs across the rounds is the load wandering, not the pair: with the noise measured here (wall
    0.29 from run to run, CPU 0.11) 21 rounds of a pair that stepped 1.8x in wall time alone spread far
    enough to set the wall samples aside, and the corpus lost such steps."""
    if wall.get("test", "").startswith("signed-rank"):
        return
    why = disagreement(wall_a, wall_b, cpu_a, cpu_b)
    if why:
        wall["disagreement"] = why
        if wall["verdict"] == "confirmed" and cpu["verdict"] != "confirmed":
            wall["verdict"] = "not_confirmed"


def carried_by_cpu(wall: dict, cpu: dict, wall_a, wall_b, cpu_a, cpu_b) -> None:
    """A wall-time verdict of a CPU-bound stage, not confirmed on its own, where the stage's CPU time was
    confirmed and the wall time rose with it (one-sided p < WALL_WITH_CPU_ALPHA): confirmed, resting on the
    CPU time. The prover's own work shows in both clocks, but a run's load spreads wall time far more (0.29
    against 0.11 on the log scale from run to run here), so a 1.3x step of a CPU-bound prover is confirmed in
    CPU time and in the corpus missed the look's alpha in wall time 11 times out of 13 (p 0.001-0.008), and
    was lost. A wall time that fell while the CPU time rose (a prover that took more threads) is not."""
    if wall.get("verdict") != "not_confirmed" or cpu.get("verdict") != "confirmed":
        return
    if not cpu_bound([wall_a, wall_b], [cpu_a, cpu_b]):
        return
    ratio, p = wall.get("ratio", 1.0), wall.get("p_value", 1.0)
    if not (ratio > 1 and p < WALL_WITH_CPU_ALPHA):
        return
    wall["verdict"] = "confirmed"
    wall["disagreement"] = (f"wall time {ratio:.2f}x (p={p:.2g}) rose with the CPU time, confirmed "
                            f"{cpu['ratio']:.2f}x: a CPU-bound stage, judged on its CPU time")


# --- the store -----------------------------------------------------------------------------------------------

def confirmations_path(layout: Layout, framework: str) -> Path:
    return FrameworkStore(layout, framework).confirmations


def load_confirmations(path: Path) -> dict[str, dict]:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("version") != CONFIRMATIONS_VERSION:
        return {}
    return data.get("pairs", {})


def remember(path: Path, key: str, entry: dict) -> None:
    data, _torn = read_state(path)  # a torn file is set aside, never overwritten with this one verdict alone
    pairs = data.get("pairs", {}) if isinstance(data, dict) and data.get("version") == CONFIRMATIONS_VERSION else {}
    pairs[key] = entry
    atomic_write_json(path, {"version": CONFIRMATIONS_VERSION, "pairs": pairs})


def read_confirmations(layout: Layout, framework: str, settings: Settings, state: StateRead) -> dict[str, dict]:
    """The verdicts kept, checked as they are read. A confirmations.json torn, malformed or deleted is said in
    one line and the verdicts of every pair whose remeasure/ records are whole are judged again from them
    (the same samples, the same test): a confirmed regression stays confirmed and is not measured again.
    Written back, the bad file set aside as `.torn`, only under the results lock (see StateRead)."""
    path = confirmations_path(layout, framework)
    data, problem = peek(path)
    whole = isinstance(data, dict) and data.get("version") == CONFIRMATIONS_VERSION and \
        isinstance(data.get("pairs"), dict)
    problem = problem or ("" if whole else "malformed")
    pairs = dict(data["pairs"]) if whole else {}
    again = {k: v for k, v in judged_again(FrameworkStore(layout, framework), settings).items() if k not in pairs}
    if not again and problem in ("", "missing"):
        return pairs
    pairs.update(again)
    if state.writes:
        if problem in ("torn", "malformed"):
            set_aside(path)
        atomic_write_json(path, {"version": CONFIRMATIONS_VERSION, "pairs": pairs})
    what = f"was {problem}" if problem else f"lacked {len(again)} re-measured pair(s)"
    fate = ("set aside as confirmations.json.torn, written again" if problem not in ("", "missing") else
            "written again") if state.writes else "written again by the next nightly"
    state.tell(f"{framework}: confirmations.json {what}: {len(again)} verdict(s) judged again from the "
               f"remeasure/ records; {fate}")
    return pairs


def judged_again(store: FrameworkStore, settings: Settings) -> dict[str, dict]:
    """pair key -> its verdict, judged from each re-measured pair's records where every round is there."""
    out = {}
    for into in store.remeasured_all():
        got = remeasured(into)
        if got is None or got.rounds < settings.rounds:
            continue
        model, _, variant = into.name.partition("--")
        out[pair_key(model, variant, got.good, got.bad)] = {
            "rounds": got.rounds, "records": str(into), "measured": got.measured,
            "metrics": judge(got.records[got.good], got.records[got.bad], settings, paired=got.paired)}
    return out


@dataclass
class Remeasured:
    """What one pair's remeasure dir holds: each side's whole records, the rounds with both, and when."""

    good: str
    bad: str
    records: dict[str, list[ModelResult]]
    rounds: int
    measured: str
    paired: bool = False  # every round holds one record of each side: records[good][i], records[bad][i] a round


def remeasured(into: Path) -> Remeasured | None:
    """The whole records of `<good8>-<bad8>/<model>--<variant>/round-N/<sha>/<model>--<variant>.json`, round
    by round, as `interleaved` kept them; None if either side has none."""
    good8, _, bad8 = into.parent.name.partition("-")
    got: dict[str, list[ModelResult]] = {}
    round_dirs = sorted(into.glob("round-*"), key=lambda d: int(d.name.partition("-")[2] or 0))
    paths, whole = [], True
    for d in round_dirs:
        mine = sorted(d.glob(f"*/{into.name}.json"))
        paths += mine
        kept = [rec for rec in map(records.load, mine) if rec is not None and rec.status == Status.OK]
        whole = whole and len(kept) == 2 and kept[0].revision != kept[1].revision
        for rec in kept:
            got.setdefault(rec.revision, []).append(rec)
    rounds = len(round_dirs)
    good = next((sha for sha in got if sha.startswith(good8)), None)
    bad = next((sha for sha in got if sha.startswith(bad8)), None)
    if good is None or bad is None:
        return None
    return Remeasured(good, bad, got, rounds, measured_at(paths), whole)


def round_records(into: Path) -> list[Path]:
    """Every record file of a pair's remeasure dir, round by round."""
    return sorted(into.glob(f"round-*/*/{into.name}.json"))


def measured_at(paths: Sequence[Path]) -> str:
    """When a pair was re-measured: its newest record's time, to the second. The verdict kept at the end of
    the rounds and one judged again from the records (confirmations.json lost) say the same time, where the
    clock read after judging could be a second later than the last record (seen on a loaded machine)."""
    newest = max((p.stat().st_mtime for p in paths), default=0.0)
    return datetime.fromtimestamp(newest, timezone.utc).isoformat(timespec="seconds")


@dataclass
class Pair:
    framework: str
    model: str
    variant: str
    good: str
    bad: str
    key: str
    per_round: int = 1  # the fewest samples one round gives of the metrics it is measured for
    asked: frozenset[str] = frozenset()  # the metrics whose steps asked for this pair (empty: every metric)
    span: bool = False  # the revisions either end of a step's reach, not two neighbours (verdict.searched)


def pairs_to_confirm(changes: Sequence[Change], limit: int) -> list[Pair]:
    """The pairs still to re-measure for the measured steps that got worse (candidates, steps too early to
    tell, and the neighbours of a step not confirmed at its pair), at most `limit`: the candidates first,
    then the steps too early to tell, each the largest step first, so a nightly with more pairs than it may
    measure spends its rounds where the evidence is strongest."""
    seen: dict[str, Pair] = {}
    rank: dict[str, tuple] = {}
    for c in changes:
        if not (c.metric.measured and c.worse):
            continue
        for good, bad in c.pending:
            key = pair_key(c.model, c.variant, good.sha, bad.sha)
            per = min(len(good.values), len(bad.values)) or 1
            pair = seen.setdefault(key, Pair(c.framework, c.model, c.variant, good.sha, bad.sha, key, per))
            pair.per_round = min(pair.per_round, per)
            pair.asked = pair.asked | {c.metric.name}
            pair.span = pair.span or (good, bad) == c.span
            rank[key] = min(rank.get(key, (2, 0.0)), (c.status == "too_early", -abs(math.log(c.comparison.ratio))))
    return sorted(seen.values(), key=lambda p: rank[p.key])[:max(limit, 0)]


def rounds_for(pair: Pair, settings: Settings) -> int:
    """The rounds of one look: `rounds`, or more where too few runs a side could reach one look's alpha at
    all (each run gives one value: 7 rounds for p < 0.003 / 3, 1/3432 at complete separation)."""
    return max(settings.rounds, samples_needed(look_alpha(settings), "greater"))


def confirm_pair(m: Remeasurer, pair: Pair, settings: Settings) -> dict | None:
    """Re-measure one pair interleaved, judge it, remember the verdict; None if it could not be measured."""
    into = FrameworkStore(m.layout, pair.framework).remeasured(pair.good, pair.bad, pair.model, pair.variant)
    rounds, got = rounds_for(pair, settings), {pair.good: [], pair.bad: []}
    whole = True  # every round gave a record of each side, so good[i] and bad[i] shared a round
    for look in range(LOOKS):
        m.say(f"{pair.framework} {pair.model} [{pair.variant}]: confirming {m.revision(pair.good).label} -> "
              f"{m.revision(pair.bad).label}" + (" (the span around a step not confirmed at its pair)" if pair.span else "")
              + f", {rounds} interleaved round(s)" + (" more" if look else ""))
        more = interleaved(m, [pair.good, pair.bad], pair.model, pair.variant, rounds, into, look * rounds + 1)
        got = {sha: got[sha] + more[sha] for sha in got}
        whole = whole and len(more[pair.good]) == len(more[pair.bad]) == rounds
        if not got[pair.good] or not got[pair.bad]:
            m.say(f"{pair.framework} {pair.model} [{pair.variant}]: could not be re-measured; stays a candidate")
            return None
        verdicts = judge(got[pair.good], got[pair.bad], settings, paired=whole)
        if settled(verdicts, settings, pair.asked):
            break
    entry = {"rounds": rounds * (look + 1), "records": str(into),
             "measured": measured_at(round_records(into)), "metrics": verdicts}
    remember(confirmations_path(m.layout, pair.framework), pair.key, entry)
    return entry


def confirm_candidates(config: Config, layout: Layout, changes: Sequence[Change], settings: Settings,
                       say: Say = print, again: Callable[[], Sequence[Change]] | None = None) -> int:
    """Re-measure the pairs of every unsettled measured step among `changes`; the number of pairs measured.

    With `again` (the changes read afresh), a step not confirmed at its pair has its neighbours re-measured
    in the same call, in at most `PASSES` passes and `confirm_max` pairs in all."""
    done, measurers = 0, {}
    for _ in range(PASSES):
        pairs = pairs_to_confirm(changes, settings.confirm_max - done)
        if not pairs:
            break
        for pair in pairs:
            m = measurers.get(pair.framework) or _measurer(config, layout, pair.framework, say)
            measurers[pair.framework] = m
            if m is False:
                continue
            try:
                done += confirm_pair(m, pair, settings) is not None
            except HistoryError as exc:  # the pair left the followed history (a branch re-pointed, renamed)
                say(f"{pair.framework} {pair.model} [{pair.variant}]: not re-measured: {exc}; stays a candidate")
        if again is None:
            break
        changes = again()
    return done


def _measurer(config: Config, layout: Layout, name: str, say: Say) -> Remeasurer | bool:
    """A Remeasurer of the framework, or False (said why) when it cannot be measured here."""
    try:
        return Remeasurer(open_to_measure(config, layout, config.framework(name), say))
    except (HistoryError, NotReady) as exc:
        say(f"{name}: cannot confirm: {exc}")
        return False
