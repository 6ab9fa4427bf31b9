"""What the tracker costs and how faithfully it measures: a benchmark, run by hand on a quiet machine.

    python bench/tracker_cost.py fidelity [--frameworks ezkl,circom --revision ezkl=23.0.5 --repeats 5 --rounds 3]
    python bench/tracker_cost.py scale    [--sizes 200,2000,10000]
    python bench/tracker_cost.py matrix   [--frameworks ezkl,circom ...]

fidelity  for ezkl and circom, runs one revision of the `tiny` suite through the tracker (warm: build and
          SRS/ptau cached), then each model's whole pipeline bare, in one process, with the same release
          (ezkl's Python API; snarkjs's and circom2's JavaScript APIs in one node process); prints per stage
          the tracker's median against the bare median, the tracker's wall time against the sum of the bare
          stage times (overhead), what a second run of the revision costs and whether it installed, built
          or made an SRS or ptau (caching), and the spread (IQR / median) of prove times (stability).
scale     makes synthetic histories of N commits with asv results for 3 models (every benchmark filled),
          and times `publish` (first, then again after one new commit, as a nightly does), plain
          `asv publish`, `regressions` and a `nightly` with nothing new on each.
matrix    the `standard` suite for one revision of each framework given: total wall time, and per net and
          variant the prove median, peak prove memory and accuracy loss beside the public benchmark's CSV
          (--anchors), with prove times as ratios to the smallest net's (ratios compare across machines).

Everything is printed as Markdown tables and kept as JSON in --out (default bench-out/), one file a section.
Medians and ratios only mean something measured in one run, on one machine, with nothing else running.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.adapters.circom import SCRIPT as CIRCOM_STAGE_SCRIPT  # noqa: E402
from tracker.adapters.ezkl import SCRIPT as EZKL_STAGE_SCRIPT  # noqa: E402
from tracker.adapters import load_config  # noqa: E402
from tracker.fsutil import read_json  # noqa: E402
from tracker.models.zoo import SUITES  # noqa: E402

TRACKER = [sys.executable, "-m", "tracker"]


def tracker(cache: Path, *args: str, config: Path, log: Path | None = None) -> float:
    """Run the tracker's CLI; its wall time. Output goes to `log` (the tables stay readable)."""
    started = time.perf_counter()
    with open(log or os.devnull, "a") as out:
        status = subprocess.run([*TRACKER, "--config", str(config), "--cache", str(cache), *args],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    wall = time.perf_counter() - started
    if status not in (0, 3):
        raise SystemExit(f"zkml-tracker {' '.join(args)} exited {status} (log: {log})")
    return wall


def _timed(argv: list[str], log: Path) -> float:
    started = time.perf_counter()
    with open(log, "a") as out:
        subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def iqr_ratio(xs):
    if len(xs) < 4:
        return float("nan")
    q = statistics.quantiles(xs, n=4)
    return (q[2] - q[0]) / statistics.median(xs)


def table(headers: list[str], rows: list[list]) -> str:
    def cell(v):
        if not isinstance(v, float):
            return str(v)
        if math.isnan(v):
            return "-"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- fidelity, overhead, caching, stability ------------------------------------------------------------

def project_config(out: Path) -> Path:
    """The project's frameworks.yaml and asv.conf.json copied into `out`: results and html land there."""
    for name in ("frameworks.yaml", "asv.conf.json"):
        shutil.copy(ROOT / name, out / name)
    return out / "frameworks.yaml"


DEFAULT_REVISIONS = {"ezkl": "23.0.5", "circom": "1.4.4"}


def fidelity(o: argparse.Namespace) -> dict:
    """Every framework of --frameworks that has a bare runner, one after the other, in one report."""
    report = {}
    for name in o.frameworks:
        if name not in BARE:
            print(f"{name}: no bare runner in this benchmark, skipped", flush=True)
            continue
        revision = o.revisions.get(name) or DEFAULT_REVISIONS.get(name)
        print(f"\n# {name} {revision}\n", flush=True)
        report[name] = fidelity_of(o, name, revision)
    return report


def fidelity_of(o: argparse.Namespace, framework: str, revision: str) -> dict:
    cache, log = o.out / "cache", o.out / f"fidelity-{framework}.log"
    log.unlink(missing_ok=True)
    path = project_config(o.out)
    config = load_config(path)
    fw = config.framework(framework)
    run = ["run", "-f", framework, "-r", revision, "--repeats", str(o.repeats), "--no-publish"]
    print(f"warm-up run of {framework} {revision} (installs, SRS/ptau) ...", flush=True)
    first = tracker(cache, *run, config=path, log=log)
    setup_files = _setup_files(cache)
    print("forced run (proves everything again, build and SRS/ptau cached) ...", flush=True)
    # as for a new revision: no keys or witnesses kept from earlier runs (a variant may still reuse another's)
    shutil.rmtree(cache / "stage-data", ignore_errors=True)
    forced = tracker(cache, *run, "--force", config=path, log=log)
    forced_records = _records(o.out / "results", framework)
    print("second run (records in place) ...", flush=True)
    second = tracker(cache, *run, config=path, log=log)
    records, bare = {}, {}
    for round_ in range(1, o.rounds + 1):  # one-sample stages (setup, calibration) get a median over rounds
        for model in SUITES[config.default_suite]:
            for variant in fw.variant_names:  # tracker, then bare, pair by pair: drift hits both alike
                print(f"round {round_}: {model} [{variant}]: tracker, then bare ...", flush=True)
                shutil.rmtree(cache / "stage-data", ignore_errors=True)  # its own keys and witnesses, timed
                tracker(cache, *run, "--force", "-m", model, "--variant", variant, config=path, log=log)
                key = (model, variant)
                _add_samples(records, key, _records(o.out / "results", framework)[key])
                _add_samples(bare, key, BARE[framework](cache, framework, model, fw.variant(variant), o))
    runs = WholeRuns(first, forced, second, _stage_sum(forced_records), setup_files == _setup_files(cache),
                     log.read_text(), o.rounds)
    return _fidelity_report(records, bare, forced_records, runs)


def _add_samples(into: dict, key: tuple, record: dict) -> None:
    """The first round's record, later rounds' stage samples appended to it."""
    if key not in into:
        into[key] = json.loads(json.dumps(record))
        return
    for name, stage in record["stages"].items():
        kept = into[key]["stages"].setdefault(name, {"samples_s": []})
        kept["samples_s"] = (kept.get("samples_s") or []) + (stage.get("samples_s") or [])


def _stage_sum(records: dict) -> float:
    return sum(_stage_time(name, s) for rec in records.values() for name, s in rec["stages"].items())


def _ran_elsewhere(stage: dict) -> bool:
    """Read back from the stage cache, or taken from the other variant's proof of this run: not run here."""
    return stage.get("reason", "").startswith(("reused", "measured once for"))


def _stage_time(name: str, stage: dict) -> float:
    """A stage's own time: its samples added up (none where it ran for another variant); for the accuracy
    pass, whose witnesses run in parallel workers, no more than the child's wall time."""
    if _ran_elsewhere(stage):
        return 0.0
    total = sum(stage.get("samples_s") or [])
    if name == "accuracy" and stage.get("child_wall_s"):
        return min(total, stage["child_wall_s"])
    return total


def _setup_files(cache: Path) -> dict[str, float]:
    """The SRS files of the cache and the machine's ptau files, with their modification times: unchanged
    means not remade."""
    from tracker.adapters.ptau import ptau_dir

    return {p.name: p.stat().st_mtime for d in (cache / "srs", ptau_dir()) for p in d.glob("*") if p.is_file()}


def _records(results: Path, framework: str) -> dict:
    """The newest record of every (model, variant) of the framework."""
    out = {}
    for path in sorted((results / framework / "records").rglob("*.json"), key=lambda p: p.stat().st_mtime):
        rec = read_json(path)
        out[(rec["model"], rec["variant"])] = rec
    return out


def _build_python(cache: Path, framework: str) -> Path:
    markers = sorted((cache / "builds" / framework).glob("*/build.json"), key=lambda p: p.stat().st_mtime)
    return Path(read_json(markers[-1])["build"]["python"])


def _bare_ezkl(cache: Path, framework: str, model: str, variant, o) -> dict:
    """The whole ezkl pipeline in one process, on the very files the tracker's run used."""
    python = _build_python(cache, framework)
    work = next((cache / "work" / framework).glob(f"*/{model}--{variant.name}"))
    bare_dir = o.out / "bare" / f"{model}--{variant.name}"
    shutil.rmtree(bare_dir, ignore_errors=True)
    bare_dir.mkdir(parents=True)
    settings = read_json(work / "settings.json") or {}
    logrows = settings.get("run_args", {}).get("logrows")
    argv = [str(python), str(EZKL_STAGE_SCRIPT), "bare", "--model", str(work / "model.onnx"),
            "--input", str(work / "input.json"), "--calibration", str(work / "calibration.json"),
            "--workdir", str(bare_dir), "--repeats", str(o.repeats),
            "--target", variant.as_dict().get("calibration_target", "resources"),
            "--srs", str(cache / "srs" / f"kzg{logrows}.srs"), "--result", str(bare_dir / "summary.json")]
    env = {**os.environ, "HOME": str(bare_dir)}
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    summary = read_json(bare_dir / "summary.json")
    summary["wall_s"] = time.perf_counter() - started
    return summary


def _bare_circom(cache: Path, framework: str, model: str, variant, o) -> dict:
    """compile, witness, setup, prove, verify in one node process, on the circuit and ptau the tracker used.

    circom2 opens no file outside its working directory, so the bare build goes into a subdirectory of
    the tracker's work dir; the keys and proofs go into --out."""
    work = next((cache / "work" / framework).glob(f"*/{model}--{variant.name}"))
    bare_dir = o.out / "bare" / framework / f"{model}--{variant.name}"
    shutil.rmtree(bare_dir, ignore_errors=True)
    bare_dir.mkdir(parents=True)
    args = read_json(work / "stages" / "setup.args.json")
    build = Path(args["cwd"]) / "bare-build"
    shutil.rmtree(build, ignore_errors=True)
    name = args["name"]
    args.update({"outdir": str(build), "r1cs": str(build / f"{name}.r1cs"),
                 "wasm": str(build / f"{name}_js" / f"{name}.wasm"), "repeats": o.repeats,
                 **{k: str(bare_dir / f) for k, f in (("wtns", "witness.wtns"), ("zkey", "circuit.zkey"),
                    ("vk", "vk.json"), ("proof", "proof.json"), ("public", "public.json"))}})
    args_file, out = bare_dir / "args.json", bare_dir / "result.json"
    args_file.write_text(json.dumps(args))
    started = time.perf_counter()
    subprocess.run(["node", str(CIRCOM_STAGE_SCRIPT), "bare", str(args_file), str(out)],
                   check=True, capture_output=True)
    summary = read_json(out)["data"]
    summary["wall_s"] = time.perf_counter() - started
    return summary


BARE = {"ezkl": _bare_ezkl, "circom": _bare_circom}


@dataclass(frozen=True)
class WholeRuns:
    """The tracker's three whole runs of a revision (seconds), and what their log and cache showed."""

    first: float
    forced: float
    second: float
    forced_stage_sum: float  # the stage times the forced run recorded
    srs_untouched: bool
    log_text: str
    rounds: int = 1


def _fidelity_report(records, bare, forced_records, runs: WholeRuns) -> dict:
    first, forced, second, rounds = runs.first, runs.forced, runs.second, runs.rounds
    forced_stage_sum, log_text = runs.forced_stage_sum, runs.log_text
    rows, bare_total = [], 0.0
    stability = []
    for key, rec in sorted(records.items()):
        b = bare.get(key)
        if b is None:
            continue
        for stage, s in rec["stages"].items():
            samples = s.get("samples_s") or []
            reused = _ran_elsewhere(forced_records[key]["stages"].get(stage, {}))
            if stage in b["stages"]:
                bs = b["stages"][stage]["samples_s"]
                bare_total += 0.0 if reused else sum(bs) / rounds  # what the forced run ran, once
                rows.append([f"{key[0]} [{key[1]}]", stage, median(samples), median(bs),
                             median(samples) / median(bs) if median(bs) else float("nan")])
            elif stage == "accuracy":  # the bare run does no accuracy pass: count the forced run's own
                bare_total += _stage_time(stage, forced_records[key]["stages"]["accuracy"])
        prove = rec["stages"].get("prove", {}).get("samples_s") or []
        stability.append([f"{key[0]} [{key[1]}]", len(prove), median(prove), iqr_ratio(prove)])
    big = [r for r in rows if r[3] >= 0.5]
    report = {
        "fidelity": rows, "stability": stability,
        "worst_ratio_over_half_second": max((abs(r[4] - 1) for r in big), default=None),
        "first_run_s": first, "forced_run_s": forced, "bare_stage_sum_s": bare_total,
        "overhead_ratio": forced / bare_total if bare_total else None,
        "forced_run_stage_sum_s": forced_stage_sum,
        "harness_ratio": forced / forced_stage_sum if forced_stage_sum else None,
        "second_run_s": second, "srs_untouched_after_first_run": runs.srs_untouched,
        "builds_made": log_text.count("build made"), "builds_cached": log_text.count("build cached"),
        "proved_by_second_run": _proofs_in_second_run(log_text),
    }
    print("\n## Fidelity: tracker median / bare median, per stage\n")
    print(table(["model [variant]", "stage", "tracker s", "bare s", "ratio"], rows))
    print("\n## Overhead and caching\n")
    print(table(["what", "value"], [
        ["first run (install, SRS, prove)", f"{first:.1f} s"],
        ["forced run: tracker wall time", f"{forced:.1f} s"],
        ["sum of bare stage times (+ accuracy pass)", f"{bare_total:.1f} s"],
        ["overhead ratio (forced run / bare stage sum)", f"{report['overhead_ratio']:.2f}x"],
        ["sum of the stage times the forced run recorded", f"{forced_stage_sum:.1f} s"],
        ["harness ratio (forced run / its own stage sum)", f"{report['harness_ratio']:.2f}x"],
        ["second run of the revision", f"{second:.1f} s"],
        ["builds made / cached, all runs", f"{report['builds_made']} / {report['builds_cached']}"],
        ["SRS files unchanged after the first run", str(runs.srs_untouched)],
        ["models proved by the second run", str(report["proved_by_second_run"])],
    ]))
    print("\n## Stability: prove time spread over repeats\n")
    print(table(["model [variant]", "repeats", "median s", "IQR / median"], stability))
    return report


def _proofs_in_second_run(log_text: str) -> int:
    runs = log_text.split("revision(s) to run")
    return len(re.findall(r"\] proving", runs[3])) if len(runs) > 3 else -1


# --- scale: synthetic histories ------------------------------------------------------------------------

SYNTH_CONFIG = """\
version: 1
repeats: 1
frameworks:
  - name: synth
    adapter: command
    proof_system: none (benchmark prover)
    model_format: ONNX
    repo: {repo}
    history: {{kind: commits, branch: main, select: {{nightly_max: 5}}}}
    build: {{kind: none}}
    stages:
      setup: "true"
      prove: "true"
      verify: "true"
"""


def scale(o: argparse.Namespace) -> dict:
    rows, report = [], {}
    for n in o.sizes:
        base = o.out / f"scale-{n}"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        print(f"{n} commits: making the repo and one real result ...", flush=True)
        shas = make_linear_repo(base / "repo", n + 1)   # the last one is the nightly's new commit
        config = base / "frameworks.yaml"
        config.write_text(SYNTH_CONFIG.format(repo=base / "repo"))
        shutil.copy(ROOT / "asv.conf.json", base / "asv.conf.json")
        log, cache = base / "log.txt", base / "cache"
        models = ["-m", "linear", "-m", "mlp", "-m", "cnn"]
        tracker(cache, "run", "-f", "synth", "-r", shas[-1], *models, "--no-publish", config=config, log=log)
        newest = fill_history(base / "results" / "synth" / "asv", shas)[-1]
        held = newest.rename(newest.with_suffix(".held"))
        print(f"{n} commits: publish, regressions, nightly ...", flush=True)
        t_publish = tracker(cache, "publish", config=config, log=log)
        held.rename(newest)
        t_next = tracker(cache, "publish", config=config, log=log)
        t_asv = _timed([str(Path(sys.executable).parent / "asv"), "publish", "--config",
                        str(cache / "asv" / "synth" / "asv.conf.json")], log)
        t_regressions = tracker(cache, "regressions", "--json", config=config, log=log)
        t_nightly = [tracker(cache, "nightly", "--no-publish", *models, config=config, log=log) for _ in range(3)]
        report[n] = {"publish_s": t_publish, "publish_one_more_commit_s": t_next, "asv_publish_alone_s": t_asv,
                     "regressions_s": t_regressions, "nightly_nothing_new_s": t_nightly}
        rows.append([n, t_publish, t_next, t_asv, t_regressions, median(t_nightly)])
        shutil.rmtree(base / "repo")
    print("\n## Scale: seconds against history length (3 models, every benchmark filled)\n")
    print(table(["commits", "publish s (first)", "publish s (one commit more)",
                 "plain `asv publish` s (asv's own step detection)", "regressions s",
                 "nightly, nothing new s (median of 3)"], rows))
    return {str(k): v for k, v in report.items()}


def make_linear_repo(path: Path, n: int) -> list[str]:
    """A repo of `n` commits on main, one file changing, made with git fast-import (seconds for 10,000)."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--initial-branch=main", str(path)], check=True)
    start = 1_600_000_000
    chunks = []
    for i in range(n):
        content = f"commit {i}\n".encode()
        msg = f"commit {i}\n".encode()
        chunks.append(b"commit refs/heads/main\n")
        chunks.append(f"committer bench <bench@example.org> {start + i * 3600} +0000\n".encode())
        chunks.append(b"data %d\n%s\n" % (len(msg), msg))
        chunks.append(b"M 644 inline prover.txt\ndata %d\n%s\n" % (len(content), content))
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(chunks), cwd=path, check=True)
    out = subprocess.run(["git", "rev-list", "--reverse", "main"], cwd=path, check=True,
                         capture_output=True, text=True).stdout.split()
    return out


def fill_history(asv_results: Path, shas: list[str]) -> list[Path]:
    """One asv result file per commit, cloned from the real one the tracker wrote for the tip.

    Every benchmark gets a value for every model, with 1 % noise that never repeats (asv's step
    detection is remembered by its input: repeating data would be remembered after one block); prove
    time doubles at 60 % of the history and proof size at 80 %, so regression detection has something to
    find.
    """
    machine_dir = next(p for p in asv_results.iterdir() if p.is_dir())
    template_path = next(p for p in machine_dir.glob("*.json") if p.name != "machine.json")
    template = json.loads(template_path.read_text())
    date0 = 1_600_000_000_000
    noise, written = random.Random(0), []
    for i, sha in enumerate(shas):
        data = json.loads(json.dumps(template))
        data["commit_hash"], data["date"] = sha, date0 + i * 3_600_000
        for name, row in data["results"].items():
            level = 2.0 if ("prove_time" in name and i >= 0.6 * len(shas)) or \
                           ("proof_size" in name and i >= 0.8 * len(shas)) else 1.0
            row[0] = [level * (1 + noise.gauss(0, 0.01)) * (1 + j) for j in range(len(row[0]))]
        path = machine_dir / f"{sha[:8]}-{data['env_name']}.json"
        path.write_text(json.dumps(data))
        written.append(path)
    return written


# --- the whole matrix ------------------------------------------------------------------------------------

def matrix(o: argparse.Namespace) -> dict:
    cache, log = o.out / "cache", o.out / "matrix.log"
    path = project_config(o.out)
    report = {}
    for name in ([] if o.figures_only else o.frameworks):
        args = ["run", "-f", name, "--latest", "1", "--suite", "standard", "--repeats", str(o.repeats),
                "--no-publish", *[a for v in o.variants for a in ("--variant", v)],
                *[a for m in o.models for a in ("-m", m)]]
        print(f"{name}: standard suite ...", flush=True)
        started = time.perf_counter()
        try:
            tracker(cache, *args, config=path, log=log)
        except SystemExit as exc:  # a failed model still leaves its records: report them
            print(exc)
        report[name] = {"wall_s": time.perf_counter() - started}
    total = sum(r["wall_s"] for r in report.values())
    parts = ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in report.items())
    print(f"\nwhole matrix: {total:.0f} s ({parts})")
    return {"frameworks": report, "total_s": total, "figures": matrix_figures(o)}


# The public benchmark's CSV names frameworks by route and nets by shape: "(784x6x16x10_5x5)" is our
# 28_6_16_10_5 (a 28x28 input, 5x5 kernels); "(196x25x10)" is 196_25_10.
ANCHOR_FRAMEWORKS = {"ezkl (pytorch)": "ezkl", "circomlib-ml (tensorflow)": "circom",
                     "zkml (tensorflow)": "zkml", "opml (pytorch)": "opml"}
ANCHORS = ROOT.parent / "shared" / "anchors" / "zkml-benchmark-results.csv"


def anchor_model(architecture: str) -> str:
    shape = architecture[architecture.rindex("(") + 1:architecture.rindex(")")]
    layers, _, kernel = shape.partition("_")
    dims = layers.split("x")
    if kernel:
        dims[0] = str(math.isqrt(int(dims[0])))
        dims.append(kernel.split("x")[0])
    return "_".join(dims)


def anchor_variant(framework: str, notes: str) -> str:
    if framework != "ezkl":
        return "default"
    return "accuracy" if "mode=accuracy" in notes else "resources"


def read_anchors(path: Path, testing_size: str = "2500") -> dict:
    """(framework, model, variant) -> (prove s, memory MB, accuracy loss %), from the 2,500-image rows."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            framework = ANCHOR_FRAMEWORKS.get(row["Framework"])
            if framework is None or row["Testing Size"] != testing_size:
                continue
            key = (framework, anchor_model(row["Architecture"]), anchor_variant(framework, row["Notes"]))
            out[key] = (float(row["Avg Proving Time (s)"]), float(row["Avg Memory Usage (MB)"]),
                        float(row["Accuracy Loss (%)"]))
    return out


def our_figures(results: Path) -> dict:
    """(framework, model, variant) -> (prove median s, peak prove memory MB, accuracy loss %, images)."""
    out = {}
    for framework_dir in sorted(p for p in results.iterdir() if (p / "records").is_dir()):
        for (model, variant), rec in _records(results, framework_dir.name).items():
            prove, accuracy = rec["stages"].get("prove") or {}, rec.get("accuracy") or {}
            if not prove.get("samples_s"):
                continue
            loss = 100 * (1 - accuracy["top1_agreement"]) if "top1_agreement" in accuracy else float("nan")
            out[(framework_dir.name, model, variant)] = (median(prove["samples_s"]),
                                                         prove["peak_rss_bytes"] / 1e6, loss,
                                                         accuracy.get("n", 0))
    return out


def matrix_figures(o: argparse.Namespace) -> list[dict]:
    """Our figures beside the public benchmark's, with each net's prove time as a ratio to the smallest
    net's (196_25_10) of the same framework and variant: the ratios travel between machines, seconds not."""
    ours = our_figures(o.out / "results")
    theirs = read_anchors(o.anchors) if o.anchors.is_file() else {}
    rows = []
    for key in sorted(ours, key=lambda k: (k[0], k[2], SUITES["standard"].index(k[1])
                                             if k[1] in SUITES["standard"] else 99, k[1])):
        framework, model, variant = key
        prove, memory, loss, images = ours[key]
        base = ours.get((framework, "196_25_10", variant))
        anchor = theirs.get(key)
        anchor_base = theirs.get((framework, "196_25_10", variant))
        rows.append({"framework": framework, "variant": variant, "model": model, "prove_s": prove,
                     "prove_ratio": prove / base[0] if base else float("nan"), "memory_mb": memory,
                     "accuracy_loss_pct": loss, "images": images,
                     "anchor_prove_s": anchor[0] if anchor else float("nan"),
                     "anchor_prove_ratio": anchor[0] / anchor_base[0] if anchor and anchor_base
                     else float("nan"),
                     "anchor_memory_mb": anchor[1] if anchor else float("nan"),
                     "anchor_accuracy_loss_pct": anchor[2] if anchor else float("nan")})
    headers = ["framework", "variant", "net", "prove s", "x 196_25_10", "memory MB", "loss %",
               "CSV prove s", "CSV x 196_25_10", "CSV memory MB", "CSV loss %"]
    print("\n" + table(headers, [[r["framework"], r["variant"], r["model"], r["prove_s"], r["prove_ratio"],
                                  r["memory_mb"], r["accuracy_loss_pct"], r["anchor_prove_s"],
                                  r["anchor_prove_ratio"], r["anchor_memory_mb"],
                                  r["anchor_accuracy_loss_pct"]] for r in rows]))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("section", choices=("fidelity", "scale", "matrix"))
    p.add_argument("--out", type=Path, default=ROOT / "bench-out")
    p.add_argument("--frameworks", default="ezkl,circom", type=lambda s: s.split(","))
    p.add_argument("--revision", dest="revisions", default={}, metavar="FW=REV[,FW=REV]",
                   type=lambda s: dict(kv.split("=", 1) for kv in s.split(",")),
                   help=f"fidelity: the revision per framework (default {DEFAULT_REVISIONS})")
    p.add_argument("--variants", default=[], type=lambda s: s.split(","), help="matrix: only these variants")
    p.add_argument("--models", default=[], type=lambda s: s.split(","), help="matrix: only these models")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rounds", type=int, default=1,
                   help="fidelity: tracker/bare pairs per model and variant (medians over rounds)")
    p.add_argument("--figures-only", action="store_true",
                   help="matrix: run nothing, print the figures already in --out beside the anchors")
    p.add_argument("--anchors", type=Path, default=ANCHORS, help="matrix: the public benchmark's CSV")
    p.add_argument("--sizes", default="200,2000,10000", type=lambda s: [int(x) for x in s.split(",")])
    o = p.parse_args(argv)
    o.out = o.out.resolve()
    o.out.mkdir(parents=True, exist_ok=True)
    report = {"fidelity": fidelity, "scale": scale, "matrix": matrix}[o.section](o)
    (o.out / f"{o.section}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
