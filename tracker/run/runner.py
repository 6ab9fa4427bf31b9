"""One run: for each framework, history -> select -> build -> prove -> store (asv's results). Failures are data.

A framework that cannot run here (`tracker.adapters.readiness`, or its history unreachable) is recorded with
its reason and the run goes on with the next; so is a revision whose build fails, and a model whose
stage fails. What each framework's last run found is kept in `results/<framework>/status.json` for
`list`, the report and the site.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

from tracker import calibration, records
from tracker.adapters.readiness import readiness, unusable_repo
from tracker.build import recipe_hash
from tracker.config import Config
from tracker.fsutil import read_json
from tracker.history import History, HistoryError, select
from tracker.history.revisions import Revision
from tracker.layout import Layout
from tracker.records import Status
from tracker.run.context import FrameworkContext, open_framework
from tracker.run.job import JobDirs, RevisionJob
from tracker.run.pipeline import prove_revision
from tracker.run.progress import Progress, Unit
from tracker.store import asv as sink
from tracker.run import asv
from tracker.store.paths import FrameworkStore
from tracker.store.state import (build_failures, check_records, check_status, forget_build_failure, remember,
                                  save_build_failure, save_status, stale_failures)
from tracker.types import Framework, Say


@dataclass
class Request:
    """What the user asked for; None means the framework's own defaults from frameworks.yaml."""

    frameworks: Sequence[str] | None = None
    revisions: Sequence[str] | None = None
    latest: int | None = None
    range: str | None = None
    steps: int | None = None
    shard: tuple[int, int] | None = None
    new_only: bool = False
    models: Sequence[str] | None = None
    suite: str | None = None
    variants: Sequence[str] | None = None
    repeats: int | None = None
    eval_count: int | None = None
    force: bool = False
    default_job: bool = False  # README command 1: no framework named, so those with `default_job: false` stay out


@dataclass
class RevisionOutcome:
    revision: Revision
    status: Status  # one of records.REVISION_STATUSES
    reason: str = ""
    cached_build: bool = False
    models: dict[str, str] = field(default_factory=dict)


@dataclass
class FrameworkOutcome:
    name: str
    status: Status  # ok, failed, unsupported, unavailable
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    revisions: list[RevisionOutcome] = field(default_factory=list)


def run(config: Config, layout: Layout, request: Request, say: Say = print) -> list[FrameworkOutcome]:
    """Every framework's revisions are chosen before the first proof, so the count and the time left on each
    proving line are the whole run's, not the current framework's."""
    skipped = left_out(config, request)
    names = request.frameworks or [f.name for f in config.frameworks if f not in skipped]
    for fw in skipped:
        say(f"{fw.name}: left out of the default job (`default_job: false`, the framework at {config.path.name} "
            f"line {fw.line}); `zkml-tracker run -f {fw.name}` runs it")
    calibration.before_measuring(say)  # measured once per machine; every record has it
    progress = Progress()
    plans = [plan_framework(config, config.framework(n), layout, request, say, progress) for n in names]
    return [run_plan(plan, request, progress) if isinstance(plan, FrameworkPlan) else plan for plan in plans]


def left_out(config: Config, request: Request) -> list[Framework]:
    """The frameworks the default job does not run because they would take it past its time (o1js's Pickles
    proofs take minutes each): named on every such run, so a user knows they exist and how to run them."""
    if request.frameworks or not request.default_job:
        return []
    return [fw for fw in config.frameworks if not fw.default_job]


@dataclass
class FrameworkPlan:
    """A framework whose history is open and whose revisions are chosen: what is left is to prove them."""
    ctx: FrameworkContext
    outcome: FrameworkOutcome
    revisions: list[Revision]


def plan_framework(config: Config, fw: Framework, layout: Layout, request: Request, say: Say,
                   progress: Progress) -> FrameworkPlan | FrameworkOutcome:
    """Open the framework's history and choose its revisions; a framework that cannot run is its outcome."""
    ready = readiness(fw)  # a history out of reach is said by open_framework, with its notes
    if not ready.ready:
        say(f"{fw.name}: skipped: {ready.reason}")
        return _save_status(layout, FrameworkOutcome(fw.name, ready.state, ready.reason))
    broken = unusable_repo(fw, layout.cache)
    if broken:  # a config to fix, as `list` says: failed, with its reason
        say(f"{fw.name}: failed: {broken}")
        return _save_status(layout, FrameworkOutcome(fw.name, Status.FAILED, broken))
    check_status(layout, fw.name, say)
    try:
        ctx = open_framework(config, layout, fw, say)
    except HistoryError as exc:
        say(f"{fw.name}: skipped: {exc}")
        return _save_status(layout, FrameworkOutcome(fw.name, Status.UNAVAILABLE, str(exc)))
    asv.read_shared_config(config.root / "asv.conf.json")  # verdict settings and the site's: before any proof
    outcome = FrameworkOutcome(fw.name, Status.OK, notes=list(ctx.history.status))
    for note in ctx.history.status:
        say(f"{fw.name}: {note}")
    if ctx.history.gone:  # the branch is gone upstream: said, the framework not ok, its mirror and results kept
        say(f"{fw.name}: {ctx.history.gone}")
        outcome.status, outcome.reason = Status.FAILED, ctx.history.gone
    try:
        redo = to_redo(ctx, request) if request.new_only else set()
        revisions = choose_revisions(fw, ctx.history, layout, request, redo)
    except HistoryError as exc:  # a revision or range the history does not have: said, not a traceback
        say(f"{fw.name}: {exc}")
        return FrameworkOutcome(fw.name, Status.FAILED, str(exc), outcome.notes)
    say(f"{fw.name}: {len(revisions)} revision(s) to run: {', '.join(r.label for r in revisions) or 'none'}")
    if revisions:
        sink.prepare_machine(FrameworkStore(layout, fw.name))  # an unwritable results dir: said before any work
    progress.plan(units(config, fw, request) * len(revisions), FrameworkStore(layout, fw.name).records)
    return FrameworkPlan(ctx, outcome, revisions)


def run_plan(plan: FrameworkPlan, request: Request, progress: Progress) -> FrameworkOutcome:
    plan.outcome.revisions = [run_revision(plan.ctx, revision, request, progress) for revision in plan.revisions]
    return _save_status(plan.ctx.layout, plan.outcome)


def choose_revisions(fw: Framework, history: History, layout: Layout, request: Request,
                     redo: set[str] = frozenset()) -> list[Revision]:
    """The command line wins over frameworks.yaml; `new_only` drops revisions asv already has, but for
    those in `redo` (a record torn, or a failure made under another config)."""
    sel = fw.history.select
    all_revs = history.selectable()
    if request.revisions:
        chosen = select.pinned(history, request.revisions)
    elif request.range or sel.range:
        chosen = select.in_range(history, request.range or sel.range)
    elif request.latest or (sel.latest and not request.steps):  # --steps samples the whole history
        chosen = select.latest(all_revs, request.latest or sel.latest)
    elif sel.pinned:
        chosen = select.pinned(history, sel.pinned)
    else:
        chosen = all_revs
    steps = request.steps or (sel.steps if not request.revisions else None)
    if steps:
        chosen = select.steps(chosen, steps)
    if request.new_only:
        chosen = select.new_since(chosen, recorded_shas(layout, fw.name, recipe_hash(fw)) - redo, sel.nightly_max)
    if request.shard:
        chosen = select.shard(chosen, *request.shard)
    return chosen


def recorded_shas(layout: Layout, framework: str, recipe: str | None = None) -> set[str]:
    """Commits that already have an asv result or a build failure of this build `recipe` (one recorded
    under another recipe, or before recipes were recorded, is tried again once the recipe is fixed; one
    stopped by a build limit or killed from outside is tried again on the next run)."""
    store = FrameworkStore(layout, framework)
    shas = set()
    for path in store.asv_result_files():
        data = read_json(path)
        if isinstance(data, dict) and data.get("commit_hash"):
            shas.add(data["commit_hash"])
    for sha, failure in build_failures(store):
        if failure is not None and failure.get("retry"):  # a limit or a kill from outside: no verdict
            continue
        if recipe is None or failure is None or failure.get("recipe", recipe) == recipe:
            shas.add(sha)
    return shas


def to_redo(ctx: FrameworkContext, request: Request) -> set[str]:
    """Among the newest revisions a nightly looks at, those with a record torn, or a failure made under
    another config (a bad stage command, a timeout too short): the nightly runs them again."""
    fw, layout, say = ctx.fw, ctx.layout, ctx.say
    models, variants = wanted(ctx.config, fw, request)
    keys = {v: records.record_key(fw, v) for v in variants}
    redo = set()
    for revision in ctx.history.selectable()[-fw.history.select.nightly_max:]:
        if not FrameworkStore(layout, fw.name).record_dir(revision.sha).is_dir():
            continue
        torn = check_records(layout, fw.name, revision.sha, [(m, v) for m in models for v in variants], say)
        stale = stale_failures(layout, fw.name, revision.sha, keys, models)
        if stale:
            say(f"{fw.name} {revision.label}: {', '.join(stale)} failed under another config; run again")
        if torn or stale:
            redo.add(revision.sha)
    return redo


def run_revision(ctx: FrameworkContext, revision: Revision, request: Request,
                 progress: Progress | None = None) -> RevisionOutcome:
    """Build one revision, prove what its records lack, and write asv's result from its records; failures
    are data."""
    fw, layout, say = ctx.fw, ctx.layout, ctx.say
    progress = progress or Progress()
    say(f"{fw.name} {revision.label}: build ...")
    started = time.perf_counter()
    try:
        built = ctx.build(revision)
    except HistoryError as exc:  # no source tree to be had (mirror broken, remote gone): tried again next run
        say(f"{fw.name} {revision.label}: {exc}")
        progress.dropped(units(ctx.config, fw, request))
        return RevisionOutcome(revision, Status.FAILED, str(exc))
    if built.build is None:
        progress.dropped(units(ctx.config, fw, request))
        say(f"{fw.name} {revision.label}: {built.reason} (log: {built.log})")
        save_build_failure(FrameworkStore(layout, fw.name), revision.sha, {
            "label": revision.label, "status": Status.BUILD_FAILED, "reason": built.reason, "log": str(built.log),
            "recipe": recipe_hash(fw), "build_status": built.status, "retry": built.retry})
        return RevisionOutcome(revision, Status.BUILD_FAILED, built.reason, built.cached)
    say(f"{fw.name} {revision.label}: build {'cached' if built.cached else 'made'} "
        f"({time.perf_counter() - started:.1f} s)")
    forget_build_failure(FrameworkStore(layout, fw.name), revision.sha)
    remember(layout, fw.name, revision, ctx.history.revisions(), say)
    job = _job(ctx, built.build, request)
    check_records(layout, fw.name, revision.sha, [(m, v) for m in job.models for v in job.variants], say)
    store = FrameworkStore(layout, fw.name)
    if not request.force and already_recorded(store, job):
        say(f"{fw.name} {revision.label}: every record (made under this config) and asv result already kept; "
            f"nothing to do")
        return _outcome(revision, prove_revision(job, say=say, progress=progress), built.cached)
    results = prove_revision(job, say=say, progress=progress)
    kept = {(r.model, r.variant): r for r in records.load_revision(store.records, revision.sha)}
    kept.update({(r.model, r.variant): r for r in results})  # the records of other models stay in its graphs
    sink.write_revision(store, revision.sha, revision.date, kept.values())
    return _outcome(revision, results, built.cached)


def _outcome(revision: Revision, results, cached: bool) -> RevisionOutcome:
    models = {f"{r.model}[{r.variant}]": r.status for r in results}
    status = Status.OK if all(r.status == Status.OK for r in results) else Status.FAILED
    reason = "; ".join(f"{r.model}[{r.variant}] {r.status}: {r.reason}" for r in results if r.status != Status.OK)
    return RevisionOutcome(revision, status, reason, cached, models)


def already_recorded(store: FrameworkStore, job: RevisionJob) -> bool:
    """Every record of the job is on disk, made under today's config, and asv's result for the commit has
    every metric of each of them: then a rerun (after an interrupted run, or the same command twice) has
    nothing to add, and leaves asv's result file as it is."""
    for model in job.models:
        for variant in job.variants:
            path = records.record_path(job.dirs.records, job.revision, model, variant)
            if records.load_current(path, job.record_key(variant)) is None:
                return False
    return sink.has_revision(store, job.revision, job.models, job.variants)


def _job(ctx: FrameworkContext, build, request: Request) -> RevisionJob:
    config, fw, layout = ctx.config, ctx.fw, ctx.layout
    models, variants = wanted(config, fw, request)
    return RevisionJob(fw, build, models, variants, JobDirs.of_run(layout, fw.name, build.revision),
                       repeats=request.repeats or config.repeats, eval_count=request.eval_count, force=request.force)


def units(config: Config, fw: Framework, request: Request) -> list[Unit]:
    """One revision's units of work: (framework, model, variant) for every model and variant it takes."""
    models, variants = wanted(config, fw, request)
    return [(fw.name, m, v) for m in models for v in variants]


def wanted(config: Config, fw: Framework, request: Request) -> tuple[list[str], list[str]]:
    """The models and variants a run of `fw` takes."""
    from tracker.models.zoo import SUITES

    models = list(request.models or SUITES[request.suite or config.default_suite])
    variants = list(request.variants or fw.variant_names)
    for v in variants:
        fw.variant(v)  # raises a clear KeyError for an unknown variant
    return models, variants


def _save_status(layout: Layout, outcome: FrameworkOutcome) -> FrameworkOutcome:
    save_status(FrameworkStore(layout, outcome.name), {
        "framework": outcome.name, "status": outcome.status,
        "reason": outcome.reason, "notes": outcome.notes,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "revisions": [{"sha": r.revision.sha, "label": r.revision.label, "status": r.status,
                       "reason": r.reason, "models": r.models} for r in outcome.revisions],
    })
    return outcome
