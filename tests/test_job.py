"""The revision job: it carries the framework as the run resolved it, so the pipeline proves without reading
frameworks.yaml again; every job keys its records."""
from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from tests.synthetic import Step, make_repo
from tracker import records
from tracker.adapters import get_adapter
from tracker.build import ensure_build
from tracker.adapters import load_config
from tracker.fsutil import read_json
from tracker.history import open_history
from tracker.layout import Layout
from tracker.run.remeasure import Remeasurer
from tracker.run.context import open_framework
from tracker.run.job import JobDirs, RevisionJob
from tracker.run.pipeline import prove_revision
from tracker.store.paths import FrameworkStore

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, prove: str = "python3 {src}/prover.py prove {workdir}") -> Path:
    repo = tmp_path / "repo"
    if not repo.exists():
        make_repo(repo, [Step(delay=0.0, proof_bytes=321)])
    config = tmp_path / "frameworks.yaml"
    config.write_text(textwrap.dedent(f"""\
        version: 1
        repeats: 1
        frameworks:
          - name: synth
            adapter: command
            proof_system: none (test prover)
            model_format: ONNX
            repo: {repo}
            history: {{kind: commits, branch: main}}
            build: {{kind: commands, commands: ["test -f prover.py"]}}
            limits: {{timeout: 120}}
            stages:
              prove: "{prove}"
        """))
    return config


@pytest.fixture
def made(tmp_path):
    """(config, layout, framework, build) of a synthetic framework's one commit, built for real."""
    config = load_config(write_config(tmp_path))
    fw = config.framework("synth")
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    history = open_history(fw, layout.cache)
    revision = history.selectable()[-1]
    built = ensure_build(fw, revision, get_adapter(fw.adapter), layout.cache, checkout=history.checkout_fn(revision))
    assert built.build is not None, built.reason
    return config, layout, fw, built.build


def test_a_job_refuses_a_variant_or_build_its_framework_does_not_have(made):
    _, layout, fw, build = made
    dirs = JobDirs.of_run(layout, fw.name, build.revision)
    with pytest.raises(KeyError, match="framework synth has no variant 'fast'"):
        RevisionJob(fw, build, ["linear"], ["fast"], dirs)
    with pytest.raises(ValueError, match="a build of ezkl given to a job of synth"):
        RevisionJob(fw, replace(build, framework="ezkl"), ["linear"], ["default"], dirs)


def test_the_pipeline_proves_from_the_job_without_frameworks_yaml(tmp_path, made):
    """frameworks.yaml changed after the job was made is not read again."""
    _, layout, fw, build = made
    job = RevisionJob(fw, build, ["linear"], ["default"], JobDirs.of_run(layout, fw.name, build.revision), repeats=1)
    write_config(tmp_path, prove="exit 3")  # were it read again, every prove would fail
    [result] = prove_revision(job, say=lambda line: None)
    assert (result.status, result.reason) == ("ok", "")
    assert result.sizes == {"proof_bytes": 321}
    assert result.key == records.record_key(fw, "default") != ""
    path = records.record_path(FrameworkStore(layout, "synth").records, build.revision, "linear", "default")
    kept = records.load(path)
    assert kept == result and kept.key == result.key and kept.status == "ok"
    # the record on disk is what asdict (the hand-written writer before tracker.serial) gave
    assert read_json(path) == json.loads(json.dumps({**asdict(result), "version": records.RECORD_VERSION}))
    assert set(read_json(path)["stages"]["prove"]) == {"stage", "status", "reason", "samples_s", "cpu_s",
                                                      "peak_rss_bytes", "peak_rss_samples", "child_wall_s",
                                                      "limit", "energy_j"}
    old = {k: v for k, v in read_json(path).items() if k != "key"} | {"version": 1}  # before record keys
    path.write_text(json.dumps(old))
    assert records.load(path) == replace(result, key="")


SHRINKING = """\
import pathlib, sys
count = pathlib.Path(sys.argv[1]) / "repeats-run"
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
held = b"m" * ((3 - n % 3) * 40 << 20)  # 120, 80, then 40 MB, written so resident
"""


def test_each_repeat_s_own_peak_memory_is_recorded_and_the_memory_verdict_reads_them(tmp_path):
    """A prover holding 120, 80 and 40 MB in its three repeats: each repeat's peak is its own (a peak kept
    across repeats would read 120 MB three times), the whole child's peak is the largest, and the memory
    metric's samples (what the verdicts test) are the three."""
    from tracker.metrics import BY_NAME, samples

    script = tmp_path / "shrinking.py"
    script.write_text(SHRINKING)
    config = load_config(write_config(tmp_path, prove=f"{sys.executable} -I -S {script} {{workdir}}"))
    fw = config.framework("synth")
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    history = open_history(fw, layout.cache)
    revision = history.selectable()[-1]
    build = ensure_build(fw, revision, get_adapter(fw.adapter), layout.cache,
                         checkout=history.checkout_fn(revision)).build
    job = RevisionJob(fw, build, ["linear"], ["default"], JobDirs.of_run(layout, fw.name, build.revision), repeats=3)
    [result] = prove_revision(job, say=lambda line: None)
    prove = result.stages["prove"]
    assert result.status == "ok" and len(prove.peak_rss_samples) == 3
    mib = [p / 2 ** 20 for p in prove.peak_rss_samples]
    assert mib[0] - mib[1] == pytest.approx(40, abs=8) and mib[1] - mib[2] == pytest.approx(40, abs=8), mib
    assert prove.peak_rss_bytes >= max(prove.peak_rss_samples)
    kept = records.load(records.record_path(FrameworkStore(layout, "synth").records, build.revision, "linear",
                                            "default"))
    assert samples(BY_NAME["prove_peak_memory"], kept) == [float(p) for p in prove.peak_rss_samples]
    # a record from before (version 2: the whole child's peak alone) gives that one value
    kept.stages["prove"].peak_rss_samples = []
    assert samples(BY_NAME["prove_peak_memory"], kept) == [float(prove.peak_rss_bytes)]


def test_a_remeasured_record_carries_its_key(tmp_path, made):
    config, layout, fw, build = made
    m = Remeasurer(open_framework(config, layout, fw, say=lambda line: None))
    rec = m.measure(build.revision, "linear", "default", tmp_path / "remeasure")
    assert rec.status == "ok" and rec.key == records.record_key(fw, "default") != ""
    kept = records.load(records.record_path(tmp_path / "remeasure", build.revision, "linear", "default"))
    assert kept.key == rec.key


NODE_STAGE = """\
const fs = require("fs");
const { resetPeak, peakBytes, allPeaks, clearedPeak } = require(process.argv[3]);
let big = Buffer.alloc(200 << 20, 1);  // 200 MB, written so resident, then let go
big = null;
const peaks = [];
for (let i = 0; i < 2; i++) {
  resetPeak();
  const small = Buffer.alloc(20 << 20, 1);
  peaks.push(peakBytes() + small.length * 0);
}
fs.writeFileSync(process.argv[2], JSON.stringify({ samples: [0.01, 0.01], cpu: [0.01, 0.01],
  peak_rss: allPeaks(peaks), peak_rss_cleared: clearedPeak(), data: {} }));
"""


def test_a_stage_that_resets_its_peak_to_measure_each_repeat_keeps_its_whole_peak(tmp_path):
    """Resetting the process's high-water mark (how the node and python stage scripts measure each repeat)
    clears the kernel's own peak of the process too, the one wait4 reports when it ends: the 200 MB the
    child held before its repeats would be lost. The child reports the highest mark it cleared, and the
    stage's whole peak is at least that; each repeat's own peak is what it held in that repeat."""
    from tracker.adapters import base
    from tracker.measure import Limits
    from tracker.models.zoo import get_model
    from tracker.types import Build, BuildRecipe, Framework, HistorySpec, ModelJob, Variant

    child = tmp_path / "stage.js"
    child.write_text(NODE_STAGE)
    fw = Framework("t", "command", "none", "none", "onnx", None, HistorySpec("releases"), BuildRecipe("none"),
                   (Variant("default"),), Limits())
    job = ModelJob(fw, Build("t", "r1", tmp_path), get_model("linear"), Variant("default"), tmp_path / "work",
                   tmp_path / "cache")
    (tmp_path / "work").mkdir()
    result, out = job.new_result(), tmp_path / "work" / "prove.json"
    peak_helper = Path(base.__file__).parent / "scripts" / "peak.cjs"
    base.run_stage(job, result, base.StageCall("prove", ["node", child, out, peak_helper], out))
    prove = result.stages["prove"]
    assert prove.ok, prove.reason
    cleared = json.loads(out.read_text())["peak_rss_cleared"]
    assert cleared >= 200 << 20 and prove.peak_rss_bytes >= cleared, (cleared, prove.peak_rss_bytes)
    assert len(prove.peak_rss_samples) == 2 and all(p <= prove.peak_rss_bytes for p in prove.peak_rss_samples)
    # the whole peak is the larger of what the tracker measured and the mark the child cleared
    report = json.dumps({"samples": [0.01], "cpu": [0.01], "peak_rss": [1 << 20], "peak_rss_cleared": 7 << 30})
    writer = f"import sys; open(sys.argv[1], 'w').write({report!r})"
    base.run_stage(job, result, base.StageCall("prove", [sys.executable, "-c", writer, out], out))
    assert result.stages["prove"].peak_rss_bytes == 7 << 30
