"""The asv suite: one benchmark per metric (its own class, unit and graph), parametrized by model and variant.

The tracker writes the revision's job (framework, build, models, variants) to a file and names it in
ZKML_TRACKER_JOB; the framework in it is the one the run resolved, and frameworks.yaml is not read here.
`setup_cache`, shared by every class (asv runs it once), proves every (model, variant) through the
framework's adapter, or reads the records the tracker already made for this revision. Each
benchmark then reports one metric. Timings are returned as `{"samples": [...], "number": 1}`, which asv
stores with their spread (median, quartiles, confidence interval) like its own timing benchmarks, so
noise can be told from a regression. A metric that does not apply to a framework is skipped; a model
that failed raises with its reason, which asv keeps as the benchmark's failure.

The source of `_Suite`'s methods is part of every benchmark's asv version (a hash of its code): a change
to it, a comment or a constant's spelling included, makes asv leave every earlier result out of the
graphs. Hence the bare "ok" in `setup` (a `tracker.records.Status` value); change that code only on purpose.
"""
from tracker.metrics import METRICS
from tracker.records import ModelResult
from tracker.run.job import RevisionJob
from tracker.run.pipeline import prove_revision

_JOB = RevisionJob.from_env()


class _Suite:
    params = (list(_JOB.models), list(_JOB.variants)) if _JOB else (["none"], ["none"])
    param_names = ["model", "variant"]
    timeout = 24 * 3600
    rounds = 1
    repeat = 1
    number = 1
    metric = None

    def setup_cache(self):
        if _JOB is None:
            return {}
        return {f"{r.model}|{r.variant}": r.to_json() for r in prove_revision(_JOB)}

    def setup(self, results, model, variant):
        data = results.get(f"{model}|{variant}")
        if data is None:
            raise NotImplementedError(f"no result for {model} [{variant}]")
        result = ModelResult.from_json(data)
        if result.status == "ok" and self.metric.value(result) is None:
            raise NotImplementedError(f"{self.metric.name} does not apply to {result.framework}")

    def _value(self, results, model, variant):
        result = ModelResult.from_json(results[f"{model}|{variant}"])
        value = self.metric.value(result)
        if value is None:
            raise RuntimeError(f"{model} [{variant}] {result.status}: {result.reason}")
        return {"samples": value, "number": 1} if isinstance(value, list) else value


def _suite_class(metric):
    def track(self, results, model, variant):
        return self._value(results, model, variant)

    track.__name__ = f"track_{metric.name}"
    track.unit = metric.unit
    track.pretty_name = metric.label
    return type(metric.suite_class, (_Suite,), {"metric": metric, track.__name__: track})


for _metric in METRICS:
    globals()[_metric.suite_class] = _suite_class(_metric)
