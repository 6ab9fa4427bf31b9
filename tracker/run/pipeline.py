"""Prove every (model, variant) of one revision, keeping a record of each as soon as it exists.

Called by the run (then the store writes asv's result from the records), the re-measurements and bisect. A
record already on disk is reused unless the job says `force`, which is what makes a run interrupted by a crash resumable: the rerun
proves only what is missing.
"""
from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path

from tracker import records
from tracker.adapters import get_adapter
from tracker.models.zoo import get_model
from tracker.records import ModelResult, Status
from tracker.run.job import RevisionJob
from tracker.run.progress import Progress
from tracker.types import ModelJob, Say


def prove_revision(job: RevisionJob, say: Say | None = None, progress: Progress | None = None) -> list[ModelResult]:
    """Every (model, variant) of the job, from the records where they exist, proved where they do not;
    `progress` counts the units and says where the run is and about how long is left."""
    say = say or (lambda line: None)  # a caller that shows no progress
    progress = progress or Progress()
    framework, build = job.framework, job.build
    adapter = get_adapter(framework.adapter)
    records_dir = job.dirs.records
    out = []
    for model_name in job.models:
        for variant_name in job.variants:
            path = records.record_path(records_dir, job.revision, model_name, variant_name)
            existing = None if job.force else records.load_current(path, job.record_key(variant_name))
            unit = (framework.name, model_name, variant_name)
            if existing is not None:
                progress.finished(unit, None)
                out.append(existing)
                continue
            what = f"{framework.name} {build.version or job.revision[:8]} {model_name} [{variant_name}]"
            say("  " + progress.starting(unit, f"{what} proving"))
            started = time.perf_counter()
            variant = framework.variant(variant_name)
            model_job = ModelJob(
                framework=framework, build=build, model=get_model(model_name), variant=variant,
                workdir=_fresh_dir(job.dirs.work / f"{model_name}--{variant_name}"),
                cache_dir=job.dirs.cache, repeats=job.repeats, eval_count=job.eval_count,
                limits=variant.limits or framework.limits, remeasure=job.remeasure,
            )
            result = _prove_one(adapter, model_job)
            result.key = job.record_key(variant_name)
            records.save(records_dir, result)
            _shed(model_job.workdir)
            took = time.perf_counter() - started
            progress.finished(unit, took)
            say(f"  {what} {result.status}{': ' + result.reason if result.reason else ''} ({took:.1f} s)")
            out.append(result)
    return out


def _prove_one(adapter, job: ModelJob) -> ModelResult:
    """An adapter bug becomes a failed record with its reason; it must not stop the other models."""
    try:
        return adapter.prove(job)
    except Exception as exc:  # noqa: BLE001 - failures are data
        (job.workdir / "logs").mkdir(parents=True, exist_ok=True)
        (job.workdir / "logs" / "adapter-error.log").write_text(traceback.format_exc())
        return job.new_result().fail(Status.ERROR, f"adapter error: {type(exc).__name__}: {exc}")


def _shed(workdir: Path, keep_below: int = 16 << 20) -> None:
    """Drop the large files a proof leaves (proving keys run to hundreds of MB); keep logs and small outputs."""
    for path in workdir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size >= keep_below:
            path.unlink()


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
