"""The store: asv's results written directly and read back by asv's own loader, results of the main branch's
`asv run` still graphed the same after the one migration, the suite's declaration held to the metrics, and the
record's declared figures (the adapter-to-metrics contract)."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from asv import util
from asv.results import Results, iter_results_for_machine

from benchmarks.benchmarks import SUITE
from tests.conftest import installed_assets
from tests.synthetic import Step, config_text, make_repo
from tracker.cli import main
from tracker.config import read_config
from tracker.layout import Layout
from tracker.metrics import BY_NAME, METRICS
from tracker.publish.offline import asset_dir
from tracker.records import ModelResult, StageResult, Status
from tracker.run.asv import derive_config
from tracker.store import asv as sink
from tracker.store.formats import ASV_BENCHMARKS_VERSION
from tracker.store.paths import FrameworkStore

DATA = Path(__file__).parent / "data" / "asv_from_main"
WHEN = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch) -> FrameworkStore:
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return FrameworkStore(Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache"), "synth")


def record(model: str, status: str = Status.OK, proof: int = 1000) -> ModelResult:
    rec = ModelResult("synth", "a" * 40, model, "default", status=status)
    rec.add(StageResult("prove", Status.OK, samples_s=[0.5, 0.4, 0.6], cpu_s=[0.3, 0.3, 0.3], peak_rss_bytes=10 << 20))
    rec.sizes["proof_bytes"] = proof
    if status != Status.OK:
        rec.fail(status, "verify: wrong proof")
    return rec


def test_asv_reads_back_what_the_store_wrote(store):
    path = sink.write_revision(store, "a" * 40, WHEN, [record("linear"), record("mlp", Status.FAILED, 2000)])

    [back] = list(iter_results_for_machine(str(store.asv), "test-machine"))  # asv's own loader
    assert Path(store.asv / back._filename) == path and back.commit_hash == "a" * 40
    assert back.date == 1_700_000_000_000 and back.env_name == f"existing-py{sink.python_version()}"
    assert back.params["machine"] == "test-machine" and back.params["python"] == sink.python_version()
    benchmarks = util.load_json(str(store.asv_benchmarks), api_version=ASV_BENCHMARKS_VERSION)
    assert back.get_result_keys(benchmarks) == {m.benchmark for m in METRICS}  # every version matches
    params = [["'linear'", "'mlp'"], ["'default'"]]
    assert benchmarks[BY_NAME["prove_time"].benchmark]["params"] == params
    assert back.get_result_params(BY_NAME["proof_size"].benchmark) == params
    assert back.get_result_value(BY_NAME["proof_size"].benchmark, params) == [1000, 2000]  # deterministic: kept
    prove = BY_NAME["prove_time"].benchmark
    assert back.get_result_value(prove, params)[0] == pytest.approx(0.5)  # asv's median of the samples
    assert back.get_result_stats(prove, params)[0]["repeat"] == 3  # with asv's statistics
    linear, mlp = back.get_result_value(BY_NAME["vk_size"].benchmark, params)
    assert math.isnan(linear) and mlp is None  # not applicable: asv's "skipped"; the failed model: failed


def test_a_rerun_finds_the_revision_written_and_no_file_is_left_half_written(store):
    sink.write_revision(store, "a" * 40, WHEN, [record("linear")])
    assert sink.has_revision(store, "a" * 40, ["linear"], ["default"])
    assert not sink.has_revision(store, "a" * 40, ["mlp"], ["default"])
    assert sorted(p.name for p in store.asv.rglob("*") if p.is_file()) == \
        ["aaaaaaaa-existing-py%s.json" % sink.python_version(), "benchmarks.json", "machine.json"]


def test_the_suite_declares_each_metric_with_its_unit_and_version():
    assert [(name, unit, version) for name, unit, version, _ in SUITE] == \
        [(m.benchmark, m.unit, m.version) for m in METRICS]
    assert all(why for *_, why in SUITE)


def test_a_version_follows_the_definition_not_the_wording():
    prove = BY_NAME["prove_time"]
    assert "wall seconds of each sample of stage prove" in prove.definition
    assert prove.version != BY_NAME["prove_cpu_time"].version
    assert len({m.version for m in METRICS}) == len(METRICS)


def test_an_undeclared_figure_fails_at_once_naming_it():
    rec = ModelResult("synth", "a" * 40, "linear", "default")
    with pytest.raises(KeyError, match="sizes: 'proof_kb' is not a declared field"):
        rec.sizes["proof_kb"] = 1
    with pytest.raises(KeyError, match="accuracy: 'top5' is not a declared field"):
        rec.accuracy = {"top1_agreement": 1.0, "top5": 1.0}
    with pytest.raises(KeyError, match="circuit: 'lanes' is not a declared field"):
        rec.circuit.update(lanes=3)
    with pytest.raises(AttributeError, match="circuit has no declared field 'lanes'"):
        rec.circuit.lanes  # noqa: B018 - what metrics.py would read
    rec.accuracy = {"top1_agreement": 0.75}
    assert BY_NAME["accuracy_loss"].value(rec) == 0.25


def test_a_record_on_disk_keeps_figures_an_older_tracker_wrote(tmp_path):
    data = ModelResult("synth", "a" * 40, "linear", "default").to_json()
    data["circuit"] = {"logrows": 12, "gates_of_old": 7}
    back = ModelResult.from_json(data)
    assert back.circuit == {"logrows": 12, "gates_of_old": 7} and back.circuit.logrows == 12


# --- results written by the main branch's `asv run`, published by the store ---------------------------------

def graphs(html: Path) -> dict[str, object]:
    root = html / "synth" / "graphs"
    return {str(p.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))}


@pytest.mark.slow
def test_results_of_the_main_branch_keep_their_graphs(tmp_path, monkeypatch, capsys, test_cache):
    """tests/data/asv_from_main: three revisions of the synthetic framework run by the main branch (asv run,
    code-hash versions) and the graphs its publish drew. Published here, the same graphs, said once."""
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "fixture-machine")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    shas = make_repo(tmp_path / "repo", [Step(delay=0.05, proof_bytes=b) for b in (1000, 1000, 2000)])
    assert [p.name for p in sorted((DATA / "results" / "synth" / "records").iterdir())] == sorted(shas)
    (tmp_path / "frameworks.yaml").write_text(config_text(tmp_path / "repo"))
    shutil.copy(Path(__file__).parents[1] / "asv.conf.json", tmp_path)
    shutil.copytree(DATA / "results", tmp_path / "results")
    (tmp_path / "cache").mkdir()
    if not installed_assets(test_cache):
        (tmp_path / "cache" / "asv-www").symlink_to(asset_dir(test_cache))
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--results", str(tmp_path / "results"),
            "--html", str(tmp_path / "html"), "--cache", str(tmp_path / "cache")]

    assert main([*args, "publish"]) == 0
    said = capsys.readouterr().out
    assert "synth: asv results of an earlier tracker: 3 file(s) moved to the benchmarks' explicit versions" in said
    assert graphs(tmp_path / "html") == json.loads((DATA / "graphs.json").read_text())

    assert main([*args, "publish"]) == 0
    assert "explicit versions" not in capsys.readouterr().out  # said once
    assert graphs(tmp_path / "html") == json.loads((DATA / "graphs.json").read_text())
    assert not (tmp_path / "home" / ".asv-machine.json").exists()


@pytest.mark.slow
def test_a_run_after_the_migration_adds_to_the_same_series(tmp_path, monkeypatch, capsys):
    """A revision run by the store beside results of the main branch: one series per graph, 4 points."""
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "fixture-machine")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    shas = make_repo(tmp_path / "repo", [Step(delay=0.05, proof_bytes=b) for b in (1000, 1000, 2000, 3000)])
    (tmp_path / "frameworks.yaml").write_text(config_text(tmp_path / "repo"))
    shutil.copy(Path(__file__).parents[1] / "asv.conf.json", tmp_path)
    shutil.copytree(DATA / "results", tmp_path / "results")
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--results", str(tmp_path / "results"),
            "--html", str(tmp_path / "html"), "--cache", str(tmp_path / "cache")]
    assert main([*args, "run", "--no-publish", "-m", "linear", "--repeats", "1", "-r", shas[3]]) == 0
    store = FrameworkStore(Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache"), "synth")
    benchmarks = util.load_json(str(store.asv_benchmarks), api_version=ASV_BENCHMARKS_VERSION)
    proof = BY_NAME["proof_size"].benchmark
    values = {}
    for path in store.asv_result_files():
        res = Results.load(str(path))
        assert proof in res.get_result_keys(benchmarks), path.name
        values[res.commit_hash] = res.get_result_value(proof, res.get_result_params(proof))
    assert values == {shas[0]: [1000], shas[1]: [1000], shas[2]: [2000], shas[3]: [3000]}


def test_no_module_starts_asv_run_or_reads_a_job_from_the_environment():
    root = Path(__file__).parents[1]
    sources = {p: p.read_text() for p in [*(root / "tracker").rglob("*.py"), *(root / "benchmarks").rglob("*.py")]}
    assert not [p for p, text in sources.items() if "ZKML_TRACKER_JOB" in text or '"run", "--config"' in text]
    assert not [p for p, text in sources.items() if ".asv-machine.json" in text and "never" not in text]


def test_the_store_sits_below_run_publish_report_and_commands():
    import ast

    root = Path(__file__).parents[1] / "tracker" / "store"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tracker."):
                layer = node.module.split(".")[1]
                assert layer not in ("run", "publish", "report", "commands", "adapters", "build"), \
                    f"{path.name} imports {node.module}"



# --- asv's own commands on what the store wrote -------------------------------------------------------------

def asv_cli(*args: str, config: Path, home: Path) -> str:
    """asv's command line (the interpreter's own asv), its output; a failure fails the test with it."""
    done = subprocess.run([sys.executable, "-m", "asv", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def two_revisions(store, tmp_path) -> tuple[Path, list[str]]:
    """Two commits of a real repo written by the store (proof 1000 then 3000 bytes, prove 0.5 s then 0.25 s),
    and the asv config the tracker derives for the framework."""
    shas = make_repo(tmp_path / "repo", [Step(), Step()])
    (tmp_path / "frameworks.yaml").write_text(config_text(tmp_path / "repo"))
    fw = read_config(tmp_path / "frameworks.yaml").frameworks[0]
    for day, (sha, proof, prove) in enumerate(zip(shas, (1000, 3000), (0.5, 0.25))):
        rec = ModelResult("synth", sha, "linear", "default")
        rec.add(StageResult("prove", Status.OK, samples_s=[prove] * 5, cpu_s=[prove] * 5, peak_rss_bytes=10 << 20))
        rec.sizes["proof_bytes"] = proof
        sink.write_revision(store, sha, WHEN + timedelta(days=day), [rec])
    shared = Path(__file__).parents[1] / "asv.conf.json"
    return derive_config(fw, tmp_path / "repo", "main", store.layout, shared), shas


def test_asv_show_prints_the_figures_the_store_recorded(two_revisions, tmp_path):
    config, shas = two_revisions
    listed = asv_cli("show", config=config, home=tmp_path / "home")
    assert "Machine    : test-machine" in listed and all(sha[:8] in listed for sha in shas)
    shown = asv_cli("show", shas[1][:8], "--machine", "test-machine", "--details", config=config,
                    home=tmp_path / "home")
    blocks = {block.split(" ", 1)[0]: block for block in shown.split("\n\n") if block.startswith("benchmarks.")}
    assert re.search(r"^\s+linear\s+3k\s*$", blocks[BY_NAME["proof_size"].benchmark], re.M)
    prove = blocks[BY_NAME["prove_time"].benchmark]
    assert re.search(r"^\s+linear\s+250±\S*ms\s*$", prove, re.M) and "repeat: 5" in prove  # the 5 samples
    assert len(blocks) == len(METRICS)


def test_asv_compare_between_two_revisions_the_store_wrote(two_revisions, tmp_path):
    """asv compare needs no environment it built: it reads the results dir and the repo, as asv show does."""
    config, shas = two_revisions
    rows = asv_cli("compare", shas[0][:8], shas[1][:8], "--machine", "test-machine", config=config,
                   home=tmp_path / "home")
    proof = next(line for line in rows.splitlines() if "track_proof_size('linear', 'default')" in line)
    prove = next(line for line in rows.splitlines() if "track_prove_time('linear', 'default')" in line)
    assert [cell.strip() for cell in proof.split("|")[1:5]] == ["+", "1k", "3k", "3.00"]  # worse: asv's "+"
    assert [cell.strip() for cell in prove.split("|")[1:5]][0::3] == ["-", "0.50"]  # better: asv's "-"
