"""The asv suite: one `track_*` benchmark per metric, parametrized by model and variant.

The tracker writes the revision's job (framework, build, models, variants) to a file and names it in
ZKML_TRACKER_JOB. `setup_cache` proves every (model, variant) through the framework's adapter (or reads
the records the tracker already made for this revision) once; each benchmark then reports one metric.
Timings are returned as `{"samples": [...], "number": 1}`, which asv stores with their spread (median,
quartiles, confidence interval) exactly like its own timing benchmarks, so noise can be told apart
from a regression. A failed stage raises with its reason, which asv keeps as the benchmark's failure.
"""
from tracker.metrics import METRICS
from tracker.records import ModelResult
from tracker.run.job import RevisionJob
from tracker.run.pipeline import prove_revision

_JOB = RevisionJob.from_env()


class Pipeline:
    params = ([m for m in _JOB.models], [v for v in _JOB.variants]) if _JOB else (["none"], ["none"])
    param_names = ["model", "variant"]
    timeout = 24 * 3600
    rounds = 1
    repeat = 1
    number = 1

    def setup_cache(self):
        if _JOB is None:
            return {}
        return {f"{r.model}|{r.variant}": r.to_json() for r in prove_revision(_JOB)}

    def setup(self, results, model, variant):
        if f"{model}|{variant}" not in results:
            raise NotImplementedError(f"no result for {model} [{variant}]")


def _track(metric):
    def track(self, results, model, variant):
        result = ModelResult.from_json(results[f"{model}|{variant}"])
        value = metric.value(result)
        if value is None:
            if result.status != "ok":
                raise RuntimeError(f"{model} [{variant}] {result.status}: {result.reason}")
            raise NotImplementedError(f"{metric.name} does not apply to {result.framework}")
        if isinstance(value, list):
            return {"samples": value, "number": 1}
        return value

    track.__name__ = f"track_{metric.name}"
    track.unit = metric.unit
    track.pretty_name = metric.label
    return track


for _metric in METRICS:
    setattr(Pipeline, f"track_{_metric.name}", _track(_metric))
