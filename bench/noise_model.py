"""Noise models for the verdict corpus, fitted to children measured on this machine.

    python bench/noise_model.py [--blocks 6] [--runs 3] [--out bench/noise_model.json]

A CPU-bound child (python, about half a second of work) and a memory-allocating child (node, about
200 MB of small objects) are run through `tracker.measure.run_measured`, the function that runs every prover stage,
so wall time, CPU time (user + system of the tree) and peak RSS of the tree are taken as the tracker takes
them. They run in "runs" of three CPU children and one memory child (one revision's run: three timing
samples, one peak-memory value), under three conditions: no neighbour of ours, and beside one and two busy
processes started here, each in a session of its own and stopped by its pid. The conditions take turns in
blocks, so whatever else the machine does falls on all three alike. The machine is shared by other work,
so "quiet" is not idle: the load average is recorded before and after.

Fitted per metric kind and condition (all on the log scale, so a spread is a factor):
  stretch    median under the condition / median quiet (a neighbour's slowdown)
  within     spread of the samples of one run around the run's mean (one revision's repeats)
  between    spread of run means beyond what `within` explains (a run's whole offset)
  sigma      spread of all samples around the condition's median
  adjacent   correlation of the offsets of two runs measured one after the other (within a block): how much
             of a run's offset is the machine's load of the moment, shared with the run beside it (what an
             interleaved re-measurement A B A B ... has in common), rather than the run's own

    python bench/noise_model.py --refit    fits the model again from the samples it keeps (no measuring)
    python bench/noise_model.py --memory-per-repeat --blocks 8 --runs 3
                                           measures peak memory again, each repeat's own peak (a node
                                           process a run, repeating the work in it, as the stage scripts do)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.measure import run_measured  # noqa: E402

MODEL_PATH = ROOT / "bench" / "noise_model.json"
MODEL_VERSION = 2  # 2: adds `adjacent`
KINDS = ("wall", "cpu", "memory")
CONDITIONS = (0, 1, 2)   # busy neighbours of ours
REPEATS = 3              # timing samples per run, as the tracker's default `repeats`
CPU_CHILD = "s = 0\nfor i in range(4_000_000):\n    s += i * i\n"
# node's garbage collector makes the peak move from run to run, as it does for snarkjs (a node prover)
MEMORY_CHILD = ("let keep = [];\nfor (let r = 0; r < 5; r++) {\n  let a = [];\n"
                "  for (let i = 0; i < 300000; i++) a.push({i, s: 'x' + i, v: [i, i + 1]});\n"
                "  keep.push(a.length);\n}\n")
PEAK_HELPER = ROOT / "tracker" / "adapters" / "scripts" / "peak.cjs"
# the same work `REPEATS` times in one node process, each repeat's own peak read as the node stage scripts
# read it (the high-water mark reset before each, tracker/adapters/scripts/peak.cjs); argv: helper, result file
MEMORY_REPEATS_CHILD = (
    "const fs = require('fs'); const { resetPeak, peakBytes } = require(process.argv[1]);\n"
    f"const peaks = [];\nfor (let rep = 0; rep < {REPEATS}; rep++) {{\n  resetPeak();\n"
    + "\n".join("  " + line for line in MEMORY_CHILD.strip().split("\n"))
    + "\n  peaks.push(peakBytes());\n}\nfs.writeFileSync(process.argv[2], JSON.stringify(peaks));\n")


class Neighbours:
    """`count` busy processes, each in a session of its own (other users' jobs on a shared machine);
    stopped by pid."""

    def __init__(self, count: int = 2):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                      for _ in range(count)]

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait(timeout=10)


def one_run(log: Path) -> dict:
    """Three CPU children and one memory child: {"wall": [...], "cpu": [...], "memory": [bytes]}."""
    timings = [run_measured([sys.executable, "-c", CPU_CHILD], log_path=log) for _ in range(REPEATS)]
    memory = run_measured(["node", "-e", MEMORY_CHILD], log_path=log)
    return {"wall": [m.wall_s for m in timings], "cpu": [m.cpu_s for m in timings],
            "memory": [memory.peak_rss_bytes]}


def memory_run(log: Path) -> dict:
    """One memory child of `REPEATS` repeats, each repeat's own peak: {"memory": [bytes, ...]}."""
    out = log.parent / "peaks.json"
    run_measured(["node", "-e", MEMORY_REPEATS_CHILD, str(PEAK_HELPER), str(out)], log_path=log)
    peaks = json.loads(out.read_text())
    if len(peaks) != REPEATS or not all(isinstance(p, int) and p > 0 for p in peaks):
        raise SystemExit(f"the memory child reported {peaks!r}: no peak per repeat here (Linux /proc needed)")
    return {"memory": peaks}


def measure(blocks: int, runs: int, log: Path, run=one_run) -> dict[int, list[dict]]:
    """{condition: [run, ...]}, the conditions taking turns block by block."""
    out: dict[int, list[dict]] = {c: [] for c in CONDITIONS}
    for b in range(blocks):
        for condition in CONDITIONS:
            neighbours = Neighbours(condition)
            try:
                out[condition] += [run(log) for _ in range(runs)]
            finally:
                neighbours.stop()
            print(f"  block {b + 1}/{blocks}, {condition} neighbour(s): {runs} run(s)", flush=True)
    return out


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _var(xs: list[float]) -> float:
    return sum((x - _mean(xs)) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2


def fit_kind(runs: list[list[float]], quiet_median: float, per_block: int = 1) -> dict:
    """Spread and stretch of one metric kind under one condition, from its runs' samples (in the order they
    were measured, `per_block` runs one after the other in each block)."""
    logs = [[math.log(x) for x in run] for run in runs]
    flat = [x for run in logs for x in run]
    per_run = len(logs[0])
    within = math.sqrt(_mean([_var(run) for run in logs])) if per_run > 1 else 0.0
    between = math.sqrt(max(0.0, _var([_mean(run) for run in logs]) - within ** 2 / per_run))
    centre = _median(flat)
    return {"median": math.exp(centre), "stretch": math.exp(centre - math.log(quiet_median)),
            "within": within, "between": between, "sigma": math.sqrt(_var(flat)),
            "worst": max(abs(x - centre) for x in flat), "samples": len(flat),
            "adjacent": adjacent([_mean(run) for run in logs], per_block)}


def adjacent(means: list[float], per_block: int) -> float:
    """Correlation of the means of consecutive runs of one block (0 where there are no such pairs): the
    share of the between-run spread that two runs measured back to back have in common."""
    pairs = [(means[i], means[i + 1]) for i in range(len(means) - 1) if (i + 1) % per_block]
    if len(pairs) < 3:
        return 0.0
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    va, vb = _var(a), _var(b)
    if va <= 0 or vb <= 0:
        return 0.0
    cov = sum((x - _mean(a)) * (y - _mean(b)) for x, y in pairs) / (len(pairs) - 1)
    return max(0.0, min(1.0, cov / math.sqrt(va * vb)))


def fit(measured: dict[int, list[dict]], per_block: int) -> dict:
    """{kind: {condition: fitted}} for every kind and condition."""
    out = {}
    for kind in KINDS:
        quiet = _median([x for run in measured[0] for x in run[kind]])
        out[kind] = {str(c): fit_kind([run[kind] for run in measured[c]], quiet, per_block) for c in CONDITIONS}
    return out


def load(path: Path = MODEL_PATH) -> dict:
    """The fitted model; one line naming the file if it is missing or of another version."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read the noise model ({exc}); make it with python bench/noise_model.py")
    if data.get("version") != MODEL_VERSION:
        raise SystemExit(f"{path}: version {data.get('version')!r}, expected {MODEL_VERSION}")
    return data


def refit(path: Path) -> None:
    """The model at `path` fitted again from its own samples, at this version (the samples of a run were
    kept in the order measured, `runs_per_block` of a condition one after the other)."""
    data = json.loads(path.read_text())
    per_block = data["how"].get("runs_per_block") or int(data["how"]["command"].rsplit("--runs", 1)[1].split()[0])
    measured = {int(c): runs for c, runs in data["samples"].items()}
    data.update(version=MODEL_VERSION, kinds=fit(measured, per_block))
    data["how"]["runs_per_block"] = per_block
    path.write_text(json.dumps(data, indent=1) + "\n")
    show(data)


def measure_memory_per_repeat(path: Path, blocks: int, runs: int) -> None:
    """Peak memory measured again, each repeat's own (as records of version 3 keep it), in place of the
    model's one value a run; its timings, their samples and how they were measured are kept as they are."""
    data = load(path)
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        measured = measure(blocks, runs, Path(tmp) / "children.log", run=memory_run)
    kept = {int(c): runs_ for c, runs_ in data["samples"].items()}
    if any(len(kept[c]) != len(measured[c]) for c in CONDITIONS):
        raise SystemExit(f"{path}: {len(kept[0])} runs a condition kept; measure memory with as many "
                         f"(--blocks and --runs as in its command: {data['how']['command']})")
    for c in CONDITIONS:
        for old, new in zip(kept[c], measured[c]):
            old["memory"] = new["memory"]
    data["samples"] = {str(c): r for c, r in kept.items()}
    data["kinds"] = fit(kept, data["how"]["runs_per_block"])
    data["how"]["memory"] = {
        "command": f"python bench/noise_model.py --memory-per-repeat --blocks {blocks} --runs {runs}",
        "measured": started.isoformat(timespec="seconds"), "child": MEMORY_REPEATS_CHILD,
        "repeats_per_run": REPEATS, "load_average_before_after": [round(load_before[0], 2),
                                                                 round(os.getloadavg()[0], 2)],
        "note": "each repeat's own peak (one node process a run, its high-water mark reset before each repeat), "
                "as the stage scripts measure it; the timings above were measured on the date above"}
    path.write_text(json.dumps(data, indent=1) + "\n")
    show(data)


def show(model: dict) -> None:
    for kind in KINDS:
        for c in CONDITIONS:
            f = model["kinds"][kind][str(c)]
            print(f"{kind:6} {c} neighbour(s): median {f['median']:.4g}, stretch {f['stretch']:.2f}x, "
                  f"within {f['within']:.3f}, between {f['between']:.3f}, sigma {f['sigma']:.3f}, "
                  f"adjacent runs {f['adjacent']:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--runs", type=int, default=3, help="runs per condition in each block")
    p.add_argument("--out", type=Path, default=MODEL_PATH)
    p.add_argument("--refit", action="store_true", help="fit again from the samples kept in --out; measure nothing")
    p.add_argument("--memory-per-repeat", action="store_true",
                   help="measure peak memory again, each repeat's own, into --out; keep its timings")
    o = p.parse_args()
    if o.refit:
        return refit(o.out)
    if o.memory_per_repeat:
        return measure_memory_per_repeat(o.out, o.blocks, o.runs)
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        measured = measure(o.blocks, o.runs, Path(tmp) / "children.log")
    model = {
        "version": MODEL_VERSION, "measured": started.isoformat(timespec="seconds"),
        "how": {"command": f"python bench/noise_model.py --blocks {o.blocks} --runs {o.runs}",
                "cpu_child": CPU_CHILD, "memory_child": MEMORY_CHILD, "repeats_per_run": REPEATS,
                "runs_per_condition": o.blocks * o.runs, "runs_per_block": o.runs, "measured_by": "tracker.measure.run_measured",
                "neighbours": "python busy loops, each in a session of its own, started and stopped by pid",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                "note": "the machine is shared with other engineers' builds and tests: 'quiet' means no "
                        "neighbour of ours, not an idle machine"},
        "kinds": fit(measured, o.runs),
        "samples": {str(c): runs for c, runs in measured.items()},
    }
    o.out.write_text(json.dumps(model, indent=1) + "\n")
    show(model)
    print(f"written {o.out}")


if __name__ == "__main__":
    main()
