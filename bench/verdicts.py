"""Whose regressions can be trusted: asv's plain detection against the tracker's verdicts, quiet and noisy.

    python bench/verdicts.py [--commits 30] [--mode quiet|noisy|both] [--rounds 5] [--out bench-out/verdicts]

A synthetic CPU-bound prover (the tests' `command`-adapter framework, tests/synthetic.py) over a generated
git history with known changes: prove work 1.3x up, 2x up, 2x down, 1.3x down (each a sixth of the way
along), and the proof 200 bytes longer from one commit. Every commit is run (`zkml-tracker run`), then:

  asv        `zkml-tracker publish`, then asv's own regressions.json (what `regressions` listed before the
             verdict engine): each jump of any benchmark is an alert
  tracker    `zkml-tracker regressions --confirm --json`: regressions (deterministic, or confirmed by
             re-measuring interleaved) are alerts; "not confirmed (noise)" and candidates are not

In `noisy` mode a neighbour (busy processes, one per core, each in a session of its own) runs while two
early commits and the newest three are measured, and on through the confirmation, as a nightly on a shared
runner meets it. An alert is a true positive when it names a known regression (up-step of prove time, wall
or CPU, or the proof-size change) at its exact commit; any other alert is false; a known regression with no
true positive is a miss. Printed as a Markdown table, kept in --out/verdicts.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.noise_model import Neighbours  # noqa: E402
from bench.tracker_cost import table  # noqa: E402
from tests.synthetic import Step, config_text, make_repo  # noqa: E402
from tracker.fsutil import read_json  # noqa: E402
from tracker.report.regressions import _parse_entry  # noqa: E402

WORK = 2_500_000             # loop iterations of the base level: about 0.25 s of CPU per proof here
LEVELS = (1.0, 1.3, 2.6, 1.3, 1.0)   # up 1.3x, up 2x, down 2x, down 1.3x
TIME_METRICS = ("prove_time", "prove_cpu_time")


def history(commits: int) -> tuple[list[Step], dict[int, str], int]:
    """The steps, {commit: kind} of the known regressions (up-steps and the proof change), the size commit."""
    edges = [round(commits * (i + 1) / (len(LEVELS) + 1)) for i in range(len(LEVELS) - 1)]
    size_at = (edges[0] + edges[1]) // 2
    steps = []
    for i in range(commits):
        level = LEVELS[sum(i >= e for e in edges)]
        steps.append(Step(delay=0.0, work=int(WORK * level), proof_bytes=1000 + 200 * (i >= size_at)))
    truth = {e: "time" for e, a, b in zip(edges, LEVELS, LEVELS[1:]) if b > a}
    truth[size_at] = "size"
    return steps, truth, size_at


def busy_neighbours() -> Neighbours:
    """Busy processes in sessions of their own (setsid), one per core: someone else's job on the runner."""
    return Neighbours(os.cpu_count() or 2)


def tracker(base: Path, *args: str, log: Path) -> tuple[int, str]:
    argv = [sys.executable, "-m", "tracker", "--config", str(base / "frameworks.yaml"), "--cache",
            str(base / "cache"), *args]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "ZKML_TRACKER_MACHINE": "bench-machine"})
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(args)}\n{done.stdout}{done.stderr}")
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"zkml-tracker {' '.join(args)} exited {done.returncode} (log: {log})")
    return done.returncode, done.stdout


def run_mode(out: Path, commits: int, rounds: int, noisy: bool) -> dict:
    base = out / ("noisy" if noisy else "quiet")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    log = base / "bench.log"
    steps, truth, _ = history(commits)
    shas = make_repo(base / "repo", steps)
    (base / "frameworks.yaml").write_text(config_text(base / "repo"))
    conf = json.loads("\n".join(x for x in (ROOT / "asv.conf.json").read_text().splitlines()
                                if not x.lstrip().startswith("//")))
    conf["tracker_verdicts"] = {"rounds": rounds}
    (base / "asv.conf.json").write_text(json.dumps(conf))
    noisy_at = {3, 4, commits - 3, commits - 2, commits - 1} if noisy else set()
    neighbour = None
    started = time.perf_counter()
    for i, sha in enumerate(shas):
        if (i in noisy_at) != (neighbour is not None):
            neighbour = busy_neighbours() if neighbour is None else neighbour.stop()
        print(f"  {'noisy' if noisy else 'quiet'}: commit {i}{' (neighbour)' if i in noisy_at else ''}", flush=True)
        tracker(base, "run", "-r", sha, "-m", "linear", "--no-publish", log=log)
    tracker(base, "publish", log=log)
    asv_alerts = asv_regressions(base / "html" / "synth")
    _, text = tracker(base, "regressions", "--confirm", "--json", log=log)
    if neighbour is not None:
        neighbour.stop()
    report = json.loads(text[text.index("{\n"):])
    ours = [(r["metric"], r["first_bad"] if not r["range_start"] else None) for r in report["regressions"]]
    return {"mode": "noisy" if noisy else "quiet", "commits": commits, "rounds": rounds,
            "noisy_commits": sorted(noisy_at), "minutes": (time.perf_counter() - started) / 60,
            "truth": {shas[k]: v for k, v in truth.items()}, "truth_index": truth,
            "asv": score(asv_alerts, shas, truth), "tracker": score(ours, shas, truth),
            "not_confirmed": len(report["not_confirmed"]),
            "not_confirmed_at": [(r["metric"], shas.index(r["first_bad"])) for r in report["not_confirmed"]],
            "confirmed": [(r["metric"], shas.index(r["first_bad"]), round(r["ratio"], 3),
                           r["evidence"].get("p_value")) for r in report["regressions"]]}


def asv_regressions(site: Path) -> list[tuple[str, str | None]]:
    """(metric, first bad commit, or None when asv gives a range) for each jump asv's publish listed."""
    found = read_json(site / "regressions.json") or {}
    rev_to_hash = (read_json(site / "index.json") or {}).get("revision_to_hash", {})
    out = []
    for entry in found.get("regressions", []):
        parsed = _parse_entry(entry[0])
        for rev_a, rev_b, _before, _after in (entry[-1] if parsed else []):
            out.append((parsed[0], rev_to_hash.get(str(rev_b)) if rev_a is None else None))
    return out


def score(alerts: list[tuple[str, str | None]], shas: list[str], truth: dict[int, str]) -> dict:
    """True positives (a known regression named at its commit), false alerts, misses."""
    found, false = set(), []
    for metric, sha in alerts:
        k = shas.index(sha) if sha in shas else None
        kind = "size" if metric == "proof_size" else "time" if metric in TIME_METRICS else "other"
        if k is not None and truth.get(k) == kind:
            found.add(k)
        else:
            false.append(f"{metric}@{k if k is not None else 'range'}")
    return {"true_positives": len(found), "false_alerts": len(false), "misses": len(set(truth) - found),
            "false": false, "found": sorted(found)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--commits", type=int, default=30)
    p.add_argument("--mode", choices=("quiet", "noisy", "both"), default="both")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "bench-out" / "verdicts")
    o = p.parse_args()
    results = [run_mode(o.out, o.commits, o.rounds, noisy) for noisy in
               ((False, True) if o.mode == "both" else (o.mode == "noisy",))]
    o.out.mkdir(parents=True, exist_ok=True)
    (o.out / "verdicts.json").write_text(json.dumps(results, indent=1))
    rows = []
    for r in results:
        for who in ("asv", "tracker"):
            s = r[who]
            rows.append([r["mode"], "asv's plain detection" if who == "asv" else "tracker verdicts",
                         s["true_positives"], s["false_alerts"], s["misses"], ", ".join(s["false"]) or "-"])
    print(f"\nknown regressions at commits {results[0]['truth_index']} of {o.commits}; "
          f"{o.rounds} confirmation rounds")
    print(table(["machine", "who", "true positives", "false alerts", "misses", "false alerts were"], rows))
    for r in results:
        print(f"{r['mode']}: {r['minutes']:.1f} min; neighbour at {r['noisy_commits']}; confirmed {r['confirmed']}; "
              f"not confirmed (noise) {r['not_confirmed_at']}")


if __name__ == "__main__":
    main()
