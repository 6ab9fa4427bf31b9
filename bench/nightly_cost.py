"""What a nightly costs on a framework with 200 commits: with nothing new, and with one new revision.

    python bench/nightly_cost.py [--commits 200] [--runs 3] [--out bench-out/nightly-cost]

Builds the synthetic framework of the tests (tests/synthetic.py: a `command`-adapter prover in a git repo)
with N commits, runs the tip for real, gives every other commit an asv result cloned from the tip's (so the
whole history counts as recorded, as after months of nightlies), publishes once, then times:

  nothing new      `zkml-tracker nightly -m linear`: fetch, select (nothing), report; no build, no proof,
                   no publish
  one new commit   a commit is added upstream, then the same nightly: fetch, build, prove (3 repeats of
                   setup/prove/verify of the synthetic prover), asv run, asv publish of the 200-commit
                   history, comparison page, report; and the same with --no-publish (the CI matrix's job)

Each figure is the median of --runs runs (min and max beside it), wall time of the whole command as cron
would see it, interpreter start-up included. Printed as a Markdown table and kept in --out/nightly-cost.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tracker_cost import fill_history, table  # noqa: E402
from tests.synthetic import Step, add_commit, config_text, make_repo  # noqa: E402


def tracker(base: Path, *args: str, log: Path) -> tuple[float, int]:
    """One command of the tracker as a child, as cron runs it; (wall seconds, exit status)."""
    argv = [sys.executable, "-m", "tracker", "--config", str(base / "frameworks.yaml"), "--cache",
            str(base / "cache"), *args]
    started = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(args)}\n")
        out.flush()
        status = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode
    wall = time.perf_counter() - started
    if status not in (0, 3):
        raise SystemExit(f"zkml-tracker {' '.join(args)} exited {status} (log: {log})")
    return wall, status


def setup(base: Path, commits: int, log: Path) -> list[str]:
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    print(f"making a {commits}-commit repository and running its tip ...", flush=True)
    shas = make_repo(base / "repo", [Step(delay=0.05) for _ in range(commits)])
    (base / "frameworks.yaml").write_text(config_text(base / "repo", nightly_max=5))
    shutil.copy(ROOT / "asv.conf.json", base / "asv.conf.json")
    tracker(base, "run", "-r", shas[-1], "-m", "linear", "--no-publish", log=log)
    fill_history(base / "results" / "synth" / "asv", shas)
    tracker(base, "publish", log=log)
    tracker(base, "nightly", "-m", "linear", log=log)  # reports the history's regressions once
    return shas


def summary(xs: list[float]) -> list:
    return [statistics.median(xs), min(xs), max(xs)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--commits", type=int, default=200)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench-out" / "nightly-cost")
    o = p.parse_args(argv)
    base = o.out.resolve()
    log = base.parent / f"{base.name}.log"
    base.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    setup(base, o.commits, log)

    print("nightly with nothing new ...", flush=True)
    nothing = [tracker(base, "nightly", "-m", "linear", log=log)[0] for _ in range(o.runs)]
    one, one_no_publish = [], []
    for i in range(o.runs):
        for times, extra in ((one, ()), (one_no_publish, ("--no-publish",))):
            print(f"nightly with one new revision{' ' + extra[0] if extra else ''} ({i + 1}/{o.runs}) ...",
                  flush=True)
            add_commit(base / "repo", Step(delay=0.05))
            times.append(tracker(base, "nightly", "-m", "linear", *extra, log=log)[0])
            text = log.read_text()
            assert "1 new revision(s) run" in text.rsplit("$ nightly", 1)[1], f"not one new revision (log: {log})"

    rows = [[f"nothing new ({o.commits} commits recorded)", *summary(nothing)],
            ["one new revision, publish included", *summary(one)],
            ["one new revision, --no-publish", *summary(one_no_publish)]]
    print(f"\n## `zkml-tracker nightly` on a {o.commits}-commit history, 1 model (linear), 3 repeats, "
          f"median of {o.runs}\n")
    print(table(["nightly", "median s", "min s", "max s"], rows))
    report = {"commits": o.commits, "runs": o.runs, "nothing_new_s": nothing, "one_new_s": one,
              "one_new_no_publish_s": one_no_publish}
    (base.parent / "nightly-cost.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
