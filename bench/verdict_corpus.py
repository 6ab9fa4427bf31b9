"""The verdict engine over a corpus of simulated histories: is it right on every shape of change?

    python bench/verdict_corpus.py --histories 300 --seed 1 [--nightly] [--json out.json]
    python bench/verdict_corpus.py --histories 300 --seeds 1-10 [--jobs 2]    pooled over ten seeds

No prover runs. Each history is a series of revisions of one (model, variant) whose prove stage has wall
time and CPU time (3 samples a revision, the tracker's default repeats) and peak memory (each repeat's own
peak, 3 a revision, as records of version 3 keep it); samples are drawn from the noise models fitted to children measured on this machine
(bench/noise_model.json, made by bench/noise_model.py), quiet or beside 1 or 2 busy neighbours. What runs is
the tracker's own code:

  segmentation   tracker.report.verdict.framework_changes over the records laid out as a run leaves them
                 and the confirmations stored so far, as `regressions` reads them
  confirmation   tracker.report.confirm.confirm_candidates, as `regressions --confirm` calls it, on fresh
                 records drawn while the load changes at random
  bisect         both ends re-measured interleaved, then a binary search whose probes are placed by
                 tracker.report.probe.judge_probe when that module exists (each probe measured in
                 interleaved rounds of good, probe, bad), else by today's tracker.commands.bisect.Probe

Only the measurement is simulated: SimMeasurer stands where tracker.run.remeasure.Remeasurer (and the
framework's measuring context it is made from) would.

Histories (12-30 commits): flat ones, and ones with steps of 1.1x-3x up and down at random commits in every
metric kind (CPU steps show in wall time too; wall time has steps of its own, waiting, and memory has its
own), several in one history, often right at the start or at the newest commit; gradual drift (5 % a commit
over 6 commits); neighbours (1 or 2 busy processes) over random runs of revisions and during the
re-measurements.

Scored per metric kind, a report being a confirmed regression (what is alerted):
  recall       steps up of at least 1.3x (timing) or 1.2x (memory) with a report within 2 commits
  exact        the same steps reported at their own commit
  precision    reports that name a commit where the metric truly got worse (a step up of any size, or a
               commit of an upward drift)
  false / 1000 reports per 1,000 commits of histories flat in that kind (candidates before confirmation
               in brackets)
  bisect exact bisections (ends around one step of at least the same size, up or down) that name its commit
  same night   (--nightly) the history grown a commit a night, a nightly's regressions --confirm each night:
               the steps of the recall's size reported at their commit the night they landed
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import tempfile
from unittest.mock import patch
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.noise_model import MODEL_PATH as NOISE_MODEL, load as load_noise_model  # noqa: E402
from tracker.commands.bisect import PROBE_ATTEMPTS, Probe, Question  # noqa: E402
from tracker.layout import Layout  # noqa: E402
from tracker.metrics import BY_NAME  # noqa: E402
from tracker import records  # noqa: E402
from tracker.fsutil import atomic_write_json  # noqa: E402
from tracker.records import ModelResult, StageResult  # noqa: E402
from tracker.report import confirm  # noqa: E402
from tracker.report.confirm import interleaved, pooled  # noqa: E402
from tracker.report.stats import compare  # noqa: E402
from tracker.report.change import Settings  # noqa: E402
from tracker.report.verdict import framework_changes  # noqa: E402

try:  # the probe judgement of the bisect rewrite, where it has landed
    from tracker.report.probe import judge_probe
except ImportError:
    judge_probe = None
try:  # a probe's runs taken relative to the load of their round, where bisect does so
    from tracker.report.probe import in_rounds
except ImportError:
    in_rounds = None

KINDS = ("wall", "cpu", "memory")
METRIC = {"wall": BY_NAME["prove_time"], "cpu": BY_NAME["prove_cpu_time"], "memory": BY_NAME["prove_peak_memory"]}
THRESHOLD = {"wall": 1.3, "cpu": 1.3, "memory": 1.2}   # steps at least this large must be found
GOALS = {"precision": 0.99, "recall": 0.95, "exact": 0.95, "bisect_exact": 0.95, "false_per_1000": 1.0}
TOLERANCE = 2           # a report within this many commits of a step has found it (recall)
REPEATS = 3             # timing samples a revision, the tracker's default
MODEL, VARIANT = "net", "default"
END_SHARE = 0.1         # chance that a step is placed right at the start, and again at the newest commit
SWITCH = 0.2            # chance that the load changes between two measurements, where neighbours come and go


# --- noise --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Noise:
    """Draws samples from the fitted model: a run's offset, then each sample's spread, times the stretch."""

    kinds: dict

    def offset(self, kind: str, condition: int, rng: np.random.Generator, last: float | None = None) -> float:
        """A run's offset (log scale): drawn afresh, or, for a run measured right after one whose offset was
        `last`, sharing the part of the load the fitted `adjacent` correlation says two such runs share."""
        f = self.kinds[kind][str(condition)]
        spread = f["between"]
        if last is None:
            return float(rng.normal(0, spread))
        rho = f.get("adjacent", 0.0)
        return float(rho * last + math.sqrt(1 - rho ** 2) * rng.normal(0, spread))

    def timing(self, kind: str, level: float, condition: int, rng: np.random.Generator,
               offset: float | None = None) -> list[float]:
        f = self.kinds[kind][str(condition)]
        offset = rng.normal(0, f["between"]) if offset is None else offset
        return [float(level * f["stretch"] * math.exp(offset + e)) for e in rng.normal(0, f["within"], REPEATS)]

    def memory(self, level: float, condition: int, rng: np.random.Generator,
               offset: float | None = None) -> list[int]:
        """Each repeat's own peak (records of version 3); a model fitted to one value a run has no spread
        within a run, and gives that value `REPEATS` times."""
        return [int(x) for x in self.timing("memory", level, condition, rng, offset)]


# --- histories ------------------------------------------------------------------------------------------------

@dataclass
class History:
    """One simulated series: the true level of each kind at each commit, and the load it was run under."""

    index: int
    commits: int
    levels: dict[str, np.ndarray]          # kind -> true level per commit
    steps: dict[str, list[tuple[int, float]]] = field(default_factory=dict)   # kind -> (commit, ratio)
    drift: dict[str, tuple[int, int]] = field(default_factory=dict)           # kind -> [first, last] commit
    load: list[int] = field(default_factory=list)   # busy neighbours while each commit was run
    noisy: bool = False                             # neighbours come and go during re-measurements too

    def sha(self, i: int) -> str:
        return f"{self.index:08x}{i:032x}"

    def flat(self, kind: str) -> bool:
        return not self.steps[kind] and kind not in self.drift

    def worse_at(self, kind: str) -> set[int]:
        """The commits where the metric truly got worse: steps up of any size, commits of an upward drift."""
        out = {k for k, r in self.steps[kind] if r > 1}
        if kind in self.drift:
            first, last = self.drift[kind]
            out |= set(range(first, last + 1))
        return out


def _step_positions(rng: np.random.Generator, n: int, count: int) -> list[int]:
    """Commits of `count` steps, at least 3 apart; each one at the first commit after the start (1), or at
    the newest (n - 1), with a chance of END_SHARE each, else anywhere."""
    out: list[int] = []
    for _ in range(count * 4):
        if len(out) == count:
            break
        roll = rng.random()
        k = 1 if roll < END_SHARE else n - 1 if roll < 2 * END_SHARE else int(rng.integers(1, n))
        if all(abs(k - j) >= 3 for j in out):
            out.append(k)
    return sorted(out)


def _ratio(rng: np.random.Generator) -> float:
    """A step of 1.1x-3x (log-uniform), up or down."""
    size = math.exp(rng.uniform(math.log(1.1), math.log(3.0)))
    return size if rng.random() < 0.5 else 1 / size


def _apply_steps(rng: np.random.Generator, n: int, count: int) -> tuple[np.ndarray, list[tuple[int, float]]]:
    level, steps = np.ones(n), []
    for k in _step_positions(rng, n, count):
        r = _ratio(rng)
        level[k:] *= r
        steps.append((k, r))
    return level, steps


def _neighbour_load(rng: np.random.Generator, n: int) -> list[int]:
    """1-3 spells of 1-5 commits beside 1 or 2 busy neighbours."""
    load = [0] * n
    for _ in range(int(rng.integers(1, 4))):
        start, length, count = int(rng.integers(0, n)), int(rng.integers(1, 6)), int(rng.integers(1, 3))
        for i in range(start, min(n, start + length)):
            load[i] = count
    return load


def make_history(seed: int, index: int, noise: Noise) -> History:
    """A history of one shape: flat (a quarter), steps (in some or all kinds), steps and a drift."""
    rng = np.random.default_rng([seed, index])
    n = int(rng.integers(12, 31))
    shape = rng.choice(["flat", "steps", "steps", "drift"])
    counts = {kind: (0 if shape == "flat" else int(rng.integers(0, 4))) for kind in ("cpu", "memory")}
    cpu, cpu_steps = _apply_steps(rng, n, counts["cpu"])
    wait, wait_steps = _apply_steps(rng, n, int(shape != "flat" and rng.random() < 0.3))
    memory, memory_steps = _apply_steps(rng, n, counts["memory"])
    h = History(index, n, {"cpu": cpu, "memory": memory},
                steps={"cpu": cpu_steps, "memory": memory_steps})
    if shape == "drift":
        kind, first = str(rng.choice(["cpu", "memory"])), int(rng.integers(1, n - 5))
        h.levels[kind][first:] *= np.cumprod(np.r_[np.full(6, 1.05), np.ones(n - first - 6)])
        h.drift = {kind: (first, first + 5), **({"wall": (first, first + 5)} if kind == "cpu" else {})}
    h.levels["wall"] = h.levels["cpu"] * wait
    h.steps["wall"] = sorted(_merge_steps(cpu_steps, wait_steps))
    base_cpu = math.exp(rng.uniform(math.log(0.2), math.log(20)))
    quiet = {kind: noise.kinds[kind]["0"]["median"] for kind in KINDS}
    h.levels["cpu"] = h.levels["cpu"] * base_cpu
    h.levels["wall"] = h.levels["wall"] * base_cpu * quiet["wall"] / quiet["cpu"]
    h.levels["memory"] = h.levels["memory"] * math.exp(rng.uniform(math.log(50e6), math.log(4e9)))
    h.noisy = bool(rng.random() < 0.5)
    h.load = _neighbour_load(rng, n) if h.noisy else [0] * n
    return h


def _merge_steps(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Steps of a product of two levels: at a shared commit the ratios multiply."""
    out: dict[int, float] = {}
    for k, r in a + b:
        out[k] = out.get(k, 1.0) * r
    return [(k, r) for k, r in out.items() if abs(math.log(r)) > 1e-9]


# --- measuring, simulated -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimRevision:
    sha: str
    label: str


@dataclass(frozen=True)
class SimFramework:
    name: str


class SimMeasurer:
    """Stands where tracker.run.remeasure.Remeasurer does: a fresh record of a revision, drawn from the
    noise model under a load that changes at random from one measurement to the next (noisy histories)."""

    def __init__(self, h: History, noise: Noise, layout: Layout, rng: np.random.Generator):
        self.h, self.noise, self.layout, self.rng = h, noise, layout, rng
        self.fw = SimFramework(f"corpus-{h.index}")
        self.say = lambda line: None
        self.condition = int(rng.integers(0, 3)) if h.noisy else 0
        self.index = {h.sha(i): i for i in range(h.commits)}
        self.offsets: dict[str, float | None] = {kind: None for kind in KINDS}  # the last run's, per kind
        self.runs = 0  # runs measured again (confirmation), what the verdicts cost beyond the nightly's own

    def revision(self, sha: str) -> SimRevision:
        return SimRevision(sha, f"c{self.index[sha]}")

    def measure(self, sha: str, model: str, variant: str, into: Path) -> ModelResult:
        """One run, right after the last one this measurer made: it shares the load of the moment with it as
        much as two runs measured back to back did here (the noise model's `adjacent`)."""
        if self.h.noisy and self.rng.random() < SWITCH:
            self.condition = int(self.rng.integers(0, 3))
        self.runs += 1
        self.offsets = {kind: self.noise.offset(kind, self.condition, self.rng, self.offsets[kind]) for kind in KINDS}
        return record(self.h, self.noise, self.index[sha], self.condition, self.rng, self.fw.name, self.offsets)


def record(h: History, noise: Noise, i: int, condition: int, rng: np.random.Generator, fw: str,
           offsets: dict[str, float] | None = None) -> ModelResult:
    """One run of commit i: the prove stage's wall and CPU samples and its peak memory (each run's offset
    drawn afresh, as for the revisions of a history run night after night, unless given)."""
    offsets = offsets or {}
    peaks = noise.memory(h.levels["memory"][i], condition, rng, offsets.get("memory"))
    stage = StageResult("prove", samples_s=noise.timing("wall", h.levels["wall"][i], condition, rng, offsets.get("wall")),
                        cpu_s=noise.timing("cpu", h.levels["cpu"][i], condition, rng, offsets.get("cpu")),
                        peak_rss_bytes=max(peaks), peak_rss_samples=peaks)
    return ModelResult(fw, h.sha(i), MODEL, VARIANT, stages={"prove": stage})


# --- the engine, as the tracker runs it -----------------------------------------------------------------------

def verdicts(h: History, m: SimMeasurer, settings: Settings) -> dict[str, dict[str, list[int]]]:
    """{kind: {"candidates": [...], "reported": [...]}}: commits of the measured changes before confirmation
    (either direction) and of the regressions reported after it."""
    recs = [record(h, m.noise, i, h.load[i], m.rng, m.fw.name) for i in range(h.commits)]
    results = store(m, recs)
    out = {kind: {"candidates": [], "reported": [], "first": [], "final": []} for kind in KINDS}
    for kind, c in by_kind(read_changes(m, results, settings)):
        out[kind]["candidates"].append(m.index[c.bad.sha])
        out[kind]["first"].append(_seen(m, c))
    confirm_all(m, results, settings)
    out["remeasured_runs"] = m.runs
    for kind, c in by_kind(read_changes(m, results, settings)):
        out[kind]["final"].append(_seen(m, c))
        if c.worse and c.status == "confirmed":
            out[kind]["reported"].append(m.index[c.bad.sha])
    stored = confirm.load_confirmations(confirm.confirmations_path(m.layout, m.fw.name))
    for kind in KINDS:
        judged = {(m.index[key.split("|")[2]], m.index[key.split("|")[3]]): entry["metrics"][METRIC[kind].name]
                  for key, entry in stored.items() if METRIC[kind].name in entry.get("metrics", {})}
        out[kind]["pairs"] = {bad: v for (good, bad), v in judged.items() if bad - good == 1}
        out[kind]["spans"] = {(good, bad): v for (good, bad), v in judged.items() if bad - good > 1}
    return out


def _seen(m: SimMeasurer, c) -> dict:
    """What the engine said of one change, for the list of misses (--misses): where, how, how sure."""
    conf = c.confirmation or {}
    return {"at": m.index[c.bad.sha], "status": c.status, "ratio": round(c.comparison.ratio, 3),
            "p": conf.get("p_value"), "remeasured": conf.get("ratio"),
            "moved_from": m.index[c.moved_from.split("|")[3]] if c.moved_from else None}


def nightly(h: History, m: SimMeasurer, settings: Settings) -> dict[str, set[int]]:
    """{kind: commits reported the night they landed}. The history grows by one commit a night; each night
    the new revision's record is laid down, the new steps are confirmed (the store keeps earlier nights'
    verdicts, as a nightly's does), and what is confirmed at the newest commit counts."""
    recs = [record(h, m.noise, i, h.load[i], m.rng, m.fw.name) for i in range(h.commits)]
    out: dict[str, set[int]] = {kind: set() for kind in KINDS}
    for night in range(2, h.commits + 1):
        results = store(m, recs[:night])
        confirm_all(m, results, settings)
        for kind, c in by_kind(read_changes(m, results, settings)):
            if c.worse and c.status == "confirmed" and m.index[c.bad.sha] == night - 1:
                out[kind].add(night - 1)
    return out


def by_kind(changes: list) -> list[tuple[str, object]]:
    """(kind, change) for the changes of the corpus's three metrics."""
    kind_of = {METRIC[kind].name: kind for kind in KINDS}
    return [(kind_of[c.metric.name], c) for c in changes if c.metric.name in kind_of]


def store(m: SimMeasurer, recs: list[ModelResult]) -> Path:
    """The records laid out as a run leaves them (records/, revisions.json in history order); the
    framework's results directory."""
    results = m.layout.results / m.fw.name
    for r in recs:
        records.save(results / "records", r)
    atomic_write_json(results / "revisions.json", {"revisions": {r.revision: {"position": i}
                                                                 for i, r in enumerate(recs)}})
    return results


def read_changes(m: SimMeasurer, results: Path, settings: Settings) -> list:
    """What `regressions` reads: framework_changes over the records and the confirmations stored so far."""
    stored = confirm.load_confirmations(confirm.confirmations_path(m.layout, m.fw.name))
    return framework_changes(m.fw.name, results, settings, stored)


class SimConfig:
    """What confirm_candidates asks of a Config: the framework by its name."""

    def framework(self, name: str) -> SimFramework:
        return SimFramework(name)


CONFIRM_CALLS = 4  # `regressions --confirm` calls at most, each up to confirm_max pairs (the nights after)


def confirm_all(m: SimMeasurer, results: Path, settings: Settings) -> None:
    """confirm_candidates as `regressions --confirm` runs it (with the changes read afresh between passes,
    where it takes them), the simulated measurer where the framework's measuring context would be; called
    again while it still finds pairs to re-measure (a history with more than confirm_max of them is
    settled over the next nightlies, each re-measuring what the last left), at most CONFIRM_CALLS times."""
    again = {"again": lambda: read_changes(m, results, settings)} \
        if "again" in inspect.signature(confirm.confirm_candidates).parameters else {}
    with patch.object(confirm, "open_to_measure", lambda config, layout, fw, say: m), \
            patch.object(confirm, "Remeasurer", lambda ctx: ctx):
        for _ in range(CONFIRM_CALLS):
            if not confirm.confirm_candidates(SimConfig(), m.layout, read_changes(m, results, settings), settings,
                                              m.say, **again):
                break


def bisect(h: History, m: SimMeasurer, kind: str, good: int, bad: int, settings: Settings) -> int | None:
    """The first commit bisect names between `good` and `bad`, as tracker.commands.bisect searches; None where
    it stops (the ends do not differ when re-measured, or a probe stays undecided)."""
    metric, into = METRIC[kind], m.layout.results / "bisect"
    q = Question(MODEL, VARIANT, metric, h.sha(good), h.sha(bad))
    ends: tuple[list[float], list[float]] = ([], [])
    for look in range(PROBE_ATTEMPTS):  # the ends measured again until they differ, as Probe.ends_differ does
        got = interleaved(m, [q.good, q.bad], MODEL, VARIANT, settings.rounds, into, look * settings.rounds + 1)
        ends = ends[0] + pooled(metric, got[q.good]), ends[1] + pooled(metric, got[q.bad])
        if compare(*ends).p_value < settings.asked_alpha:
            break
    else:
        return None
    place = _judged_placer(m, q, settings) if judge_probe else _todays_placer(m, q, settings, ends)
    lo, hi = good, bad
    while hi - lo > 1:
        mid = (lo + hi) // 2
        side = place(mid)
        if side is None:
            return None
        lo, hi = (lo, mid) if side == "bad" else (mid, hi)
    return hi


def _todays_placer(m: SimMeasurer, q: Question, settings: Settings, ends):
    probe = Probe(m, q, settings, m.layout.results / "bisect")
    probe.good, probe.bad = list(ends[0]), list(ends[1])
    return lambda i: probe.place(m.revision(m.h.sha(i)))


def _judged_placer(m: SimMeasurer, q: Question, settings: Settings):
    """Each probe measured in interleaved rounds of good, probe, bad, judged by judge_probe on the values
    bisect gives it (each run's samples relative to its round's load, `in_rounds`, where that exists; else
    the samples as measured); "neither" is measured again, up to PROBE_ATTEMPTS times, then the search stops undecided."""
    def place(i: int) -> str | None:
        sha = m.h.sha(i)
        recs: dict[str, list] = {q.good: [], sha: [], q.bad: []}
        for _ in range(PROBE_ATTEMPTS):
            got = interleaved(m, [q.good, sha, q.bad], MODEL, VARIANT, settings.rounds, m.layout.results)
            for s in recs:
                recs[s] += got[s]
            groups = [recs[q.good], recs[sha], recs[q.bad]]
            values = (in_rounds and in_rounds(q.metric, groups)) or [pooled(q.metric, g) for g in groups]
            side = judge_probe(*values, settings.effect(q.metric), settings.asked_alpha)
            if side in ("good", "bad"):
                return side
        return None
    return place


def bisect_rule() -> str:
    """Which placement of a probe the corpus runs."""
    return "tracker.report.probe.judge_probe" if judge_probe else "today's tracker.commands.bisect.Probe.place"


def bisect_ends(h: History, kind: str, k: int, rng: np.random.Generator) -> tuple[int, int]:
    """A good and a bad end around the step at k with no other change of the kind between them."""
    changes = sorted({j for j, _ in h.steps[kind]} | set(range(*_span(h.drift.get(kind)))))
    before = max((j for j in changes if j < k), default=0)
    after = min((j for j in changes if j > k), default=h.commits)
    good = int(rng.integers(max(before, k - 10), k))
    bad = int(rng.integers(k, min(after - 1, k + 10) + 1))
    return good, bad


def _span(drift: tuple[int, int] | None) -> tuple[int, int]:
    return (drift[0], drift[1] + 1) if drift else (0, 0)


# --- scoring -------------------------------------------------------------------------------------------------

@dataclass
class Score:
    """Counts for one metric kind over the corpus."""

    steps: int = 0           # steps up at least THRESHOLD
    found: int = 0
    exact: int = 0
    missed_near_end: int = 0  # steps not found that lie within TOLERANCE commits of either end
    reports: int = 0
    right: int = 0
    misplaced: int = 0        # wrong reports within TOLERANCE commits of a commit that truly got worse
    flat_commits: int = 0
    flat_reports: int = 0
    flat_candidates: int = 0
    bisects: int = 0
    bisect_exact: int = 0
    bisect_undecided: int = 0
    commits: int = 0          # every commit of every history (the same for each kind)
    remeasured_runs: int = 0  # runs measured again to confirm (shared by the kinds: a run measures all three)
    nightly_steps: int = 0    # steps counted where the nightly was simulated (--nightly)
    same_night: int = 0       # of those, reported at their commit the night they landed

    def rates(self) -> dict[str, float | None]:
        def share(a: int, b: int) -> float | None:
            return a / b if b else None
        per_1000 = (lambda x: 1000 * x / self.flat_commits) if self.flat_commits else (lambda x: None)
        return {"recall": share(self.found, self.steps), "exact": share(self.exact, self.steps),
                "precision": share(self.right, self.reports), "false_per_1000": per_1000(self.flat_reports),
                "candidates_per_1000": per_1000(self.flat_candidates),
                "bisect_exact": share(self.bisect_exact, self.bisects),
                "remeasured_per_commit": self.remeasured_runs / self.commits if self.commits else None,
                "same_night": share(self.same_night, self.nightly_steps)}


def score_nights(h: History, landed: dict[str, set[int]], scores: dict[str, Score]) -> None:
    for kind in KINDS:
        for k, r in h.steps[kind]:
            if r >= THRESHOLD[kind]:
                scores[kind].nightly_steps += 1
                scores[kind].same_night += k in landed[kind]


def score_history(h: History, found: dict, scores: dict[str, Score], bisected: dict[str, list],
                  misses: list | None = None) -> None:
    for kind in KINDS:
        s, reported = scores[kind], found[kind]["reported"]
        for k, r in h.steps[kind]:
            if r >= THRESHOLD[kind]:
                s.steps += 1
                hit = any(abs(j - k) <= TOLERANCE for j in reported)
                s.found += hit
                s.exact += k in reported
                if misses is not None and k not in reported:
                    misses.append(describe_miss(h, kind, k, r, found[kind], hit))
                s.missed_near_end += not hit and min(k - 1, h.commits - 1 - k) < TOLERANCE
        s.reports += len(reported)
        s.commits += h.commits
        s.remeasured_runs += found.get("remeasured_runs", 0)
        worse = h.worse_at(kind)
        s.right += sum(j in worse for j in reported)
        if misses is not None:
            misses += [{**describe_miss(h, kind, j, 1.0, found[kind], False), "wrong_report": True}
                       for j in reported if j not in worse]
        s.misplaced += sum(j not in worse and any(abs(j - w) <= TOLERANCE for w in worse) for j in reported)
        if h.flat(kind):
            s.flat_commits += h.commits
            s.flat_reports += len(reported)
            s.flat_candidates += len(found[kind]["candidates"])
        for k, named in bisected[kind]:
            s.bisects += 1
            s.bisect_exact += named == k
            s.bisect_undecided += named is None


def describe_miss(h: History, kind: str, k: int, r: float, found: dict, near: bool) -> dict:
    """One step not reported at its commit, with what a reader needs to class it: its size, how far it lies
    from either end, the nearest other change of the kind, the load around it, and what the engine saw
    near it before and after confirming (changes within 3 commits; the pairs re-measured there, and the spans
    re-measured across it)."""
    others = [(j, q) for j, q in h.steps[kind] if j != k]
    nearest = min(others, key=lambda s: abs(s[0] - k), default=None)
    close = lambda xs: [x for x in xs if abs(x["at"] - k) <= 3]
    return {"history": h.index, "kind": kind, "commits": h.commits, "at": k, "ratio": round(r, 3),
            "from_start": k, "from_end": h.commits - 1 - k, "near_reported": near,
            "nearest_step": None if nearest is None else {"at": nearest[0], "ratio": round(nearest[1], 3)},
            "drift": h.drift.get(kind), "load": h.load[max(0, k - 2):k + 2], "noisy": h.noisy,
            "first": close(found["first"]), "final": close(found["final"]),
            "pairs": {j: found["pairs"][j] and {x: found["pairs"][j].get(x) for x in ("verdict", "ratio", "p_value")}
                      for j in sorted(found["pairs"]) if abs(j - k) <= 3},
            "spans": {f"{a}-{b}": {x: v.get(x) for x in ("verdict", "ratio", "p_value")}
                      for (a, b), v in sorted(found.get("spans", {}).items()) if a <= k <= b}}


def run_corpus(histories: int, seed: int, noise: Noise | None = None, settings: Settings | None = None,
               nights: bool = False, misses: list | None = None) -> dict:
    """Every history through the engine (and night by night, with `nights`); {kind: Score}."""
    noise = noise or Noise(load_noise_model()["kinds"])
    settings = settings or Settings()
    scores = {kind: Score() for kind in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp) / "results", Path(tmp) / "html", Path(tmp) / "cache")
        for index in range(histories):
            h = make_history(seed, index, noise)
            m = SimMeasurer(h, noise, layout, np.random.default_rng([seed, index, 1]))
            found = verdicts(h, m, settings)
            bisected = {kind: [] for kind in KINDS}
            for kind in KINDS:
                for k, r in h.steps[kind]:
                    if max(r, 1 / r) >= THRESHOLD[kind]:
                        good, bad = bisect_ends(h, kind, k, m.rng)
                        bisected[kind].append((k, bisect(h, m, kind, good, bad, settings)))
            score_history(h, found, scores, bisected, misses)
            if nights:
                night_layout = Layout(layout.results / "nightly", layout.html, layout.cache)
                night_m = SimMeasurer(h, noise, night_layout, np.random.default_rng([seed, index, 2]))
                score_nights(h, nightly(h, night_m, settings), scores)
    return scores


# --- the table ---------------------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _per_1000(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def table(scores: dict[str, Score]) -> str:
    head = ["metric", "steps", "recall", "exact commit", "precision", "false alerts / 1,000 flat commits",
            "bisect exact"]
    nights = any(s.nightly_steps for s in scores.values())
    rows = []
    for kind in KINDS:
        s, r = scores[kind], scores[kind].rates()
        rows.append([f"{kind} ({METRIC[kind].name})", f"{s.steps} (>= {THRESHOLD[kind]}x up)",
                     f"{_pct(r['recall'])} ({s.found})", f"{_pct(r['exact'])} ({s.exact})",
                     f"{_pct(r['precision'])} ({s.right}/{s.reports})",
                     f"{_per_1000(r['false_per_1000'])} ({_per_1000(r['candidates_per_1000'])} candidates; "
                     f"{s.flat_commits} commits)",
                     f"{_pct(r['bisect_exact'])} ({s.bisect_exact}/{s.bisects}, {s.bisect_undecided} undecided)"]
                    + ([f"{_pct(r['same_night'])} ({s.same_night}/{s.nightly_steps})"] if nights else []))
    rows.append(["goal", "", f">= {_pct(GOALS['recall'])}", f">= {_pct(GOALS['exact'])}",
                 f">= {_pct(GOALS['precision'])}", f"<= {GOALS['false_per_1000']:.0f}",
                 f">= {_pct(GOALS['bisect_exact'])}"] + ([""] if nights else []))
    head += ["reported the night it landed"] if nights else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def missed_goals(scores: dict[str, Score]) -> list[str]:
    """Each goal a kind does not meet, as 'kind: name value'."""
    out = []
    for kind in KINDS:
        for name, value in scores[kind].rates().items():
            if name not in GOALS or value is None:
                continue
            ok = value <= GOALS[name] if name == "false_per_1000" else value >= GOALS[name]
            if not ok:
                out.append(f"{kind}: {name} {value:.3g} (goal {GOALS[name]:g})")
    return out


def pooled_scores(per_seed: list[dict[str, Score]]) -> dict[str, Score]:
    """The counts of several seeds' corpora added up, kind by kind: one table over all their histories."""
    out = {kind: Score() for kind in KINDS}
    for scores in per_seed:
        for kind in KINDS:
            for name, value in vars(scores[kind]).items():
                setattr(out[kind], name, getattr(out[kind], name) + value)
    return out


def seed_line(seed: int, scores: dict[str, Score]) -> str:
    """One seed's figures a kind: recall / exact / precision / false alerts per 1,000 / bisect exact."""
    def cells(r: dict) -> str:
        return "/".join("-" if r[k] is None else f"{100 * r[k]:.1f}" if k != "false_per_1000" else f"{r[k]:.1f}"
                        for k in ("recall", "exact", "precision", "false_per_1000", "bisect_exact"))
    return f"seed {seed}: " + "; ".join(f"{kind} {cells(scores[kind].rates())}" for kind in KINDS)


def seed_range(text: str) -> list[int]:
    """'1-10' or '3' or '1,4,7' as seeds."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _one_seed(args: tuple) -> tuple[int, dict[str, Score], list]:
    histories, seed, kinds, nights, with_misses = args
    misses: list | None = [] if with_misses else None
    scores = run_corpus(histories, seed, Noise(kinds), nights=nights, misses=misses)
    return seed, scores, [{**m, "seed": seed} for m in misses or []]


def busier(kinds: dict) -> dict:
    """The noise model of a machine one neighbour busier: no neighbour of ours draws what one did, one and
    two draw what two did (a shape the engine is checked on, not tuned on)."""
    return {kind: {"0": by["1"], "1": by["2"], "2": by["2"]} for kind, by in kinds.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--histories", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", type=seed_range, help="several seeds ('1-10'), each of --histories, one table pooled "
                   "over all of them, and each seed's line")
    p.add_argument("--jobs", type=int, default=1, help="seeds run side by side (--seeds)")
    p.add_argument("--noise", type=Path, default=NOISE_MODEL, help="the fitted noise model (bench/noise_model.py)")
    p.add_argument("--nightly", action="store_true",
                   help="also grow each history a commit a night and count the steps reported the night they land")
    p.add_argument("--json", type=Path, help="also write the counts here")
    p.add_argument("--busier", action="store_true",
                   help="a held-out machine: every condition one neighbour busier (quiet runs as beside one)")
    p.add_argument("--misses", type=Path,
                   help="also write every step not reported at its commit (and every report where nothing got worse, "
                        "wrong_report) here, one JSON object a line, with what the engine saw near it (to class them)")
    o = p.parse_args()
    model = load_noise_model(o.noise)
    kinds = busier(model["kinds"]) if o.busier else model["kinds"]
    seeds = o.seeds or [o.seed]
    jobs = [(o.histories, seed, kinds, o.nightly, bool(o.misses)) for seed in seeds]
    if o.jobs > 1 and len(seeds) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(o.jobs, len(seeds))) as pool:
            done = list(pool.map(_one_seed, jobs))
    else:
        done = [_one_seed(job) for job in jobs]
    scores = pooled_scores([scores for _, scores, _ in done])
    if o.misses:
        o.misses.write_text("".join(json.dumps(x, default=str) + "\n" for _, _, misses in done for x in misses))
    rule = bisect_rule()
    which = f"seed {o.seed}" if not o.seeds else f"seeds {', '.join(map(str, seeds))}, pooled ({len(seeds) * o.histories} histories)"
    print(f"{o.histories} histories a seed, {which}{', busier machine' if o.busier else ''}; noise model measured {model['measured']}"
          + (f" (peak memory per repeat {model['how']['memory']['measured']})" if "memory" in model["how"] else "") + "; "
          f"bisect probes placed by {rule}\n")
    print(table(scores))
    print("\nsteps missed within two commits of an end: " +
          ", ".join(f"{kind} {scores[kind].missed_near_end} of {scores[kind].steps - scores[kind].found}"
                    for kind in KINDS))
    print("wrong reports within two commits of a real regression (misplaced): " +
          ", ".join(f"{kind} {scores[kind].misplaced} of {scores[kind].reports - scores[kind].right}"
                    for kind in KINDS))
    cost = scores["cpu"].rates()["remeasured_per_commit"]
    print(f"runs measured again to confirm: {cost:.2f} a commit ({scores['cpu'].remeasured_runs} runs, "
          f"{scores['cpu'].commits} commits; one run measures all three kinds)")
    missed = missed_goals(scores)
    print("\ngoals missed: " + ("; ".join(missed) if missed else "none"))
    if o.seeds:
        print("\neach seed (recall / exact / precision / false alerts per 1,000 / bisect exact, %):")
        for seed, one, _ in done:
            under = missed_goals(one)
            print(seed_line(seed, one) + (f"  [under a goal: {'; '.join(under)}]" if under else ""))
    if o.json:
        o.json.write_text(json.dumps({"histories": o.histories, "seeds": seeds, "bisect_rule": rule,
                                      "scores": {k: {**vars(s), **s.rates()} for k, s in scores.items()}},
                                     indent=1))


if __name__ == "__main__":
    main()
