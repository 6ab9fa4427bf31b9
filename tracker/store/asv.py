"""asv as the store's sink: after a revision is proved, its asv result file is written from its records.

asv is used here as a store of results per commit and a site generator (`asv publish`), never as a runner:
no `asv run`, no benchmark child, no environment plugin. A result file is made with asv's own
`asv.results.Results` (its format, its statistics of timing samples: median, quartiles, confidence
interval) and written atomically (a temporary file renamed over the old one), so a file is whole or absent.
benchmarks.json is written from tracker.metrics, each benchmark's `version` given explicitly
(`Metric.version`, derived from what the metric measures), so an edit of a comment or a docstring keeps every
graph. The machine's description is asv's own (`asv.machine.Machine.get_defaults`), recorded once a machine
name in its results' machine.json, never in the user's ~/.asv-machine.json.

Results of earlier trackers (asv run's code-hash versions) are moved to the explicit versions when first
opened, said once (`adopt_explicit_versions`).
"""
from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Iterable

from tracker.fsutil import atomic_write_json, atomic_write_text, read_json
from tracker.metrics import METRICS, Metric
from tracker.records import ModelResult, Status
from tracker.store.formats import ASV_BENCHMARKS_VERSION
from tracker.store.paths import ASV_MACHINE_FILE, FrameworkStore
from tracker.types import Say

MACHINE_FIELDS = ("os", "arch", "cpu", "num_cpu", "ram")
PARAM_NAMES = ["model", "variant"]
TIMEOUT_S = 24 * 3600  # what the suite declared to asv before; kept so that benchmarks.json reads the same


def machine_name() -> str:
    name = os.environ.get("ZKML_TRACKER_MACHINE") or os.uname().nodename
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:60] or "machine"


def python_version() -> str:
    """The interpreter's X.Y: part of every result's params, as asv's existing environment named by version."""
    return "%d.%d" % sys.version_info[:2]


def env_name() -> str:
    from asv.environment import get_env_name

    return get_env_name("existing", python_version(), {}, {})


# --- the machine --------------------------------------------------------------------------------------------

def prepare_machine(store: FrameworkStore) -> str:
    """The machine name results are filed under, its machine.json written when first used; raise OSError
    (the directory, the system's words) where its results could not be written, before any work.

    asv puts every field of the description (os with its kernel release, cpu, ram, ...) into a series'
    graph path, so the description must not drift: a name stands for the description first recorded under
    it in the results (which travel with merged shards and the results branch); a name seen for the first
    time is described by this host. Each record still keeps the real host it ran on."""
    name = machine_name()
    directory = store.asv_machine(name)
    check_writable(directory)
    if recorded_machine(store, name) is None:
        atomic_write_json(directory / ASV_MACHINE_FILE, {**this_host(), "machine": name, "version": 1})
    return name


def this_host() -> dict[str, str]:
    from asv.machine import Machine

    return {k: str(v) for k, v in Machine.get_defaults().items() if k in MACHINE_FIELDS}


def recorded_machine(store: FrameworkStore, name: str) -> dict[str, str] | None:
    """The description recorded for `name` in these results, or None if there is none yet."""
    recorded = read_json(store.asv_machine(name) / ASV_MACHINE_FILE)
    if not isinstance(recorded, dict):
        return None
    return {f: str(recorded[f]) for f in MACHINE_FIELDS if f in recorded}


def check_writable(directory: Path) -> None:
    """Raise OSError (the directory, the system's words) where no file can be made in `directory`."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".writable-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(directory)) from None


# --- benchmarks.json ----------------------------------------------------------------------------------------

def benchmark_entry(metric: Metric, params: list[list[str]]) -> dict:
    """One benchmark as asv's benchmarks.json describes it (a `track` benchmark, parametrized by model and
    variant); `code` is the metric's definition, which asv's site shows beside the graph."""
    return {"name": metric.benchmark, "type": "track", "code": metric.definition, "version": metric.version,
            "unit": metric.unit, "pretty_name": metric.label, "param_names": PARAM_NAMES, "params": params,
            "timeout": TIMEOUT_S}


def write_benchmarks(store: FrameworkStore, params: list[list[str]]) -> None:
    """benchmarks.json in asv's format (asv.util.write_json: indented, keys sorted, its api version)."""
    data = {m.benchmark: benchmark_entry(m, params) for m in METRICS}
    data["version"] = ASV_BENCHMARKS_VERSION
    atomic_write_text(store.asv_benchmarks, json.dumps(data, indent=4, sort_keys=True))


def known_params(store: FrameworkStore) -> list[list[str]]:
    """Every model and variant asv's results of this framework hold, as asv spells them (repr), sorted:
    the params benchmarks.json declares, so that no series already kept falls out of the site."""
    models, variants = set(), set()
    for path in store.asv_result_files():
        data = read_json(path)
        for row in (data.get("results") or {}).values() if isinstance(data, dict) else ():
            if isinstance(row, list) and len(row) > 1 and isinstance(row[1], list) and len(row[1]) == 2:
                models.update(row[1][0])
                variants.update(row[1][1])
    return [sorted(models), sorted(variants)]


# --- result files -------------------------------------------------------------------------------------------

def write_revision(store: FrameworkStore, sha: str, date: datetime, results: Iterable[ModelResult]) -> Path:
    """asv's result file of one commit, from its records (each model and variant proved), written atomically;
    then benchmarks.json, declaring every model and variant kept. Returns the result file's path."""
    from asv.results import Results

    name = prepare_machine(store)
    by_key = {(r.model, r.variant): r for r in results}
    models = sorted({m for m, _ in by_key})
    variants = sorted({v for _, v in by_key})
    params = [[repr(m) for m in models], [repr(v) for v in variants]]
    py = python_version()
    out = Results({**recorded_machine(store, name), "machine": name, "python": py}, {}, sha,
                  int(date.timestamp() * 1000), py, env_name(), {})
    for metric in METRICS:
        cells = [by_key.get(key) for key in product(models, variants)]
        out.add_result({"name": metric.benchmark, "version": metric.version, "params": params},
                       benchmark_result(metric, cells))
    path = save_atomically(out, store.asv)
    write_benchmarks(store, merge_params(known_params(store), params))
    return path


def benchmark_result(metric: Metric, cells: list[ModelResult | None]):
    """asv's BenchmarkResult of one metric over the (model, variant) grid: a number, samples (asv computes
    their statistics), NaN where the metric does not apply (asv's "skipped"), None where the model failed."""
    from asv.runner import BenchmarkResult

    values, samples, numbers = [], [], []
    for rec in cells:
        value = metric.value(rec) if rec is not None else None
        if value is None:
            values.append(float("nan") if rec is not None and rec.status == Status.OK else None)
            samples.append(None)
            numbers.append(None)
        elif isinstance(value, list):  # asv recomputes the value and its statistics from the samples
            values.append(statistics.median(value))
            samples.append([float(x) for x in value])
            numbers.append(1)
        else:
            values.append(value)
            samples.append(None)
            numbers.append(None)
    failed = any(v is None and s is None for v, s in zip(values, samples))
    return BenchmarkResult(result=values, samples=samples, number=numbers, errcode=1 if failed else 0,
                           stderr="", profile=None)


def save_atomically(results, results_dir: Path) -> Path:
    """asv's own `Results.save`, into a scratch dir beside the target, then renamed over it."""
    results_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=results_dir, prefix=".writing-") as scratch:
        results.save(scratch)
        target = results_dir / results._filename
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(scratch) / results._filename, target)
    return target


def merge_params(a: list[list[str]], b: list[list[str]]) -> list[list[str]]:
    return [sorted(set(x) | set(y)) for x, y in zip(a, b)]


def has_revision(store: FrameworkStore, sha: str, models: Iterable[str], variants: Iterable[str]) -> bool:
    """This machine's result file of `sha` holds every metric of each (model, variant) at today's versions."""
    want = ({repr(m) for m in models}, {repr(v) for v in variants})
    for path in store.asv_machine(machine_name()).glob(f"{sha[:8]}-*.json"):
        data = read_json(path)
        if not isinstance(data, dict) or data.get("commit_hash") != sha:
            continue
        try:
            at, version = data["result_columns"].index("params"), data["result_columns"].index("version")
            rows = [data["results"][m.benchmark] for m in METRICS]
            if all(want[0] <= set(row[at][0]) and want[1] <= set(row[at][1]) and row[version] == m.version
                   for m, row in zip(METRICS, rows)):
                return True
        except (KeyError, ValueError, IndexError, TypeError):
            continue
    return False


# --- results of earlier trackers ----------------------------------------------------------------------------

def adopt_explicit_versions(store: FrameworkStore, say: Say) -> int:
    """Results written by `asv run` (each benchmark's version a hash of the suite's code) moved to the
    explicit versions, once: a benchmark's result whose version is the one the old benchmarks.json named
    (a point on today's graphs) gets the metric's version; one of an older version (already off the graphs)
    is left as it was. Then benchmarks.json is the store's. Returns how many files were moved; said once."""
    old = read_json(store.asv_benchmarks)
    if not isinstance(old, dict):
        return 0
    ours = {m.benchmark: m.version for m in METRICS}
    moved_from = {name: e.get("version") for name, e in old.items()
                  if name in ours and isinstance(e, dict) and e.get("version") != ours[name]}
    if not moved_from:
        return 0
    moved = sum(_adopt_file(path, moved_from, ours) for path in store.asv_result_files())
    write_benchmarks(store, known_params(store))
    say(f"{store.framework}: asv results of an earlier tracker: {moved} file(s) moved to the benchmarks' "
        f"explicit versions (once; benchmarks.json is now written by the tracker)")
    return moved


def _adopt_file(path: Path, moved_from: dict[str, str], ours: dict[str, str]) -> bool:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return False
    try:
        at = data["result_columns"].index("version")
    except (KeyError, ValueError):
        return False
    changed = False
    for name, row in data["results"].items():
        if name in moved_from and isinstance(row, list) and len(row) > at and row[at] == moved_from[name]:
            row[at] = ours[name]
            changed = True
    if changed:  # asv's compact format (asv.util.write_json with compact=True)
        atomic_write_text(path, json.dumps(data))
    return changed


PATH_NAMED_SET_ASIDE = ".path-env"  # suffix of a path-named result that a newer one of the same commit replaced


def adopt_path_named_results(store: FrameworkStore) -> list[str]:
    """Results of asv's path-named existing environment (`existing-py_home_me_.venv_bin_python`, written by
    trackers before the environment was named by the interpreter's version) renamed into the version-named
    series; what moved, one line each.

    The version comes from the interpreter's file name (`python3.11`) or else from the commit's records
    (machine.python). A result whose version cannot be told is left as it was (still read, as its own
    series). Where the commit already has a result under the new name, that one is kept and the old one set
    aside as `*.json.path-env`: nothing is deleted."""
    said = []
    for path in store.asv_result_files():
        data = read_json(path)
        python = ((data.get("params") or {}) if isinstance(data, dict) else {}).get("python")
        if not (isinstance(python, str) and os.sep in python and str(data.get("env_name", "")).startswith("existing-py")):
            continue
        version = _version_of(python, store.record_dir(str(data.get("commit_hash", "-"))))
        if version is None:
            said.append(f"{path.name}: left as it was (the interpreter's version cannot be told from "
                        f"{python} or the commit's records)")
            continue
        said.append(_adopt_path_named(path, data, version))
    return said


def _adopt_path_named(path: Path, data: dict, version: str) -> str:
    from asv.environment import get_env_name

    name = get_env_name("existing", version, {}, {})
    target = path.with_name(f"{data['commit_hash'][:8]}-{name}.json")
    if target.exists():
        os.replace(path, path.with_name(path.name + PATH_NAMED_SET_ASIDE))
        return (f"{path.name}: {target.name} is newer for the same commit; the old one set aside as "
                f"{path.name}{PATH_NAMED_SET_ASIDE}")
    atomic_write_json(target, {**data, "params": {**data["params"], "python": version}, "python": version,
                               "env_name": name})
    os.remove(path)
    return f"{path.name}: renamed {target.name} (its environment was named after the interpreter's path)"


def _version_of(python: str, record_dir: Path) -> str | None:
    named = re.search(r"python(\d+\.\d+)$", python)
    if named:
        return named.group(1)
    for record in sorted(record_dir.glob("*.json")):
        data = read_json(record)
        found = re.match(r"(\d+\.\d+)", str(((data or {}).get("machine") or {}).get("python", "")) if isinstance(data, dict) else "")
        if found:
            return found.group(1)
    return None


def set_aside_torn_results(store: FrameworkStore) -> list[Path]:
    """A result file that is not JSON (cut by something outside the tracker: every write here is atomic)
    renamed `*.torn` beside itself: asv's publish would stop on it. Nothing is lost: the records hold every
    figure, and the next run of that revision writes its result again from them."""
    torn = []
    for path in sorted([*store.asv.glob("*.json"), *store.asv.glob("*/*.json")]):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            os.replace(path, path.with_name(path.name + ".torn"))
            torn.append(path)
        except OSError:
            continue
    return torn
