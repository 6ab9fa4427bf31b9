"""html/index.html: for each model, the frameworks side by side at their latest revision.

asv publishes one site per framework (html/<framework>/); this page answers the question across them.
`collect` gathers everything the page shows as plain data (rows, cells, charts, regressions); the
Jinja2 template renders it with autoescaping, because commit subjects, branch names, framework names
and error messages come from outside and must show as text. Nothing here builds HTML.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from tracker import records
from tracker.adapters import get_adapter
from tracker.config import Config
from tracker.fsutil import atomic_write_text
from tracker.layout import Layout
from tracker.metrics import BY_NAME, METRICS, Metric, summary
from tracker.publish.charts import Chart, Item, log_bar_chart
from tracker.publish.differences import Difference, format_modmuls, measured_pros_cons, model_differences, normalised_cpu
from tracker.publish.units import exact, format_value
from tracker.records import ModelResult, Status
from tracker.report.regressions import Regression, Verdicts, commit_link, find_verdicts
from tracker.store.state import StateRead, build_failures as kept_build_failures, history_order
from tracker.types import Framework
from tracker.store.paths import FrameworkStore

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
CHARTS = ("prove_time", "prove_peak_memory")
RECENT_REGRESSIONS = 20
# the comparison table's column groups, each metric under a short heading (its full label is the tooltip)
GROUPS = (
    ("time", (("setup_time", "setup"), ("prove_time", "prove"), ("verify_time", "verify"))),
    ("CPU time", (("setup_cpu_time", "setup"), ("prove_cpu_time", "prove"), ("verify_cpu_time", "verify"))),
    ("memory", (("prove_peak_memory", "peak (prove)"),)),
    ("size", (("proof_size", "proof"), ("vk_size", "vk"), ("pk_size", "pk"))),
    ("circuit", (("circuit_logrows", "logrows"), ("circuit_constraints", "constraints"))),
    ("accuracy vs float", (("accuracy_max_abs_error", "max error"), ("accuracy_loss", "top-1 loss"))),
)


@dataclass
class RevisionInfo:
    """Where a figure came from: the revision's label (version or short sha), its upstream link and subject."""

    sha: str
    label: str
    link: str = ""
    subject: str = ""
    date: str = ""


@dataclass
class Cell:
    value: float | None
    text: str
    title: str = ""
    href: str = ""
    normalised: str = ""  # CPU time cells: the same in modular multiplications' worth (tracker.calibration)


@dataclass
class Row:
    """One framework variant's latest figures for one model, or why there are none."""

    framework: str
    model: str
    variant: str
    color: str
    status: str
    reason: str = ""
    revision: RevisionInfo | None = None
    machine: str = ""
    machine_detail: str = ""
    settings: list[tuple[str, str, bool]] = field(default_factory=list)  # name, value, headline?
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def partial(self) -> bool:
        """Failed, with figures from before the failure (setup, circuit size, accuracy): shown with it."""
        return not self.ok and any(c.value is not None for c in self.cells.values())

    @property
    def label(self) -> str:
        return f"{self.framework} [{self.variant}]" if self.variant else self.framework


@dataclass
class FrameworkCard:
    framework: Framework
    color: str
    status: str
    reason: str = ""
    site: str = ""
    latest: RevisionInfo | None = None
    notes: list[str] = field(default_factory=list)
    build_failures: list[tuple[str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    measured_pros: list[str] = field(default_factory=list)   # from the latest figures (publish.differences)
    measured_cons: list[str] = field(default_factory=list)
    stage_labels: dict[str, str] = field(default_factory=dict)  # the adapter's own names of its stages


@dataclass
class Column:
    metric: Metric
    heading: str


@dataclass
class ModelSection:
    name: str
    groups: list[tuple[str, list[Column]]]
    rows: list[Row]
    charts: list[Chart]
    differences: list[Difference] = field(default_factory=list)

    @property
    def columns(self) -> list[Column]:
        return [c for _, cols in self.groups for c in cols]


@dataclass
class RegressionRow:
    regression: Regression
    date: str
    subject: str
    change: str
    graph: str


@dataclass
class Site:
    generated: str
    cards: list[FrameworkCard]
    models: list[ModelSection]
    regressions: list[RegressionRow]
    not_confirmed: list[RegressionRow] = field(default_factory=list)  # timing steps gone when re-measured
    unreadable: list[str] = field(default_factory=list)  # evidence that could not be read: no verdict on it
    too_early: list[RegressionRow] = field(default_factory=list)  # moved, too few samples to tell yet


# --- links -------------------------------------------------------------------------------------------

SAFE_IN_HASH = "-_.!~*'()"  # what encodeURIComponent leaves alone, so asv reads back the same value


def asv_graph_url(framework: str, metric: Metric, model: str, variant: str, commits: str = "") -> str:
    """The framework's asv graph of one metric, one (model, variant) selected, as asv 0.6's own links spell it:
    `<fw>/index.html#benchmarks.ProveTime.track_prove_time?p-model='linear'&p-variant='default'`."""
    params = [("p-model", repr(model)), ("p-variant", repr(variant))] + ([("commits", commits)] if commits else [])
    query = "&".join(f"{k}={quote(v, safe=SAFE_IN_HASH)}" for k, v in params)
    return f"{quote(framework)}/index.html#{metric.benchmark}?{query}"


# --- gathering -----------------------------------------------------------------------------------------

def revision_info(fw: Framework, sha: str, info: dict) -> RevisionInfo:
    return RevisionInfo(sha, info.get("label") or sha[:8], commit_link(fw, sha, info),
                        info.get("subject", ""), info.get("date", ""))


def latest_records(layout: Layout, fw: str, known: dict[str, dict], say=print) -> list[tuple[str, ModelResult]]:
    """For each (model, variant), the record of the latest revision (in history order) that has a whole one.

    A torn record is set aside (`*.torn`) and said in one line, and the (model, variant) shows the record
    of the revision before it, rather than the page falling silent on it ("no results yet")."""
    seen: dict[str, tuple[str, ModelResult]] = {}
    torn: dict[str, str] = {}
    for sha in sorted(known, key=lambda sha: history_order(known[sha]), reverse=True):
        for path in sorted(FrameworkStore(layout, fw).record_dir(sha).glob("*.json")):
            if path.stem in seen:
                continue
            rec, was_torn = records.check(path)
            if was_torn:
                torn[path.stem] = sha
            elif rec is not None:
                seen[path.stem] = (sha, rec)
    for stem, sha in torn.items():
        label = (known.get(seen[stem][0], {}).get("label") or seen[stem][0][:8]) if stem in seen else ""
        say(f"{fw}: record {sha[:8]}/{stem}.json was torn: set aside as {stem}.json.torn; the page shows "
            + (f"{stem} from {label}, the revision before," if label else f"no figures for {stem}")
            + " until a run proves it again")
    return list(seen.values())


def asv_machine(layout: Layout, fw: str, sha: str) -> str:
    """The asv machine a revision's results were filed under (asv names result files `<sha8>-<env>.json`)."""
    for path in FrameworkStore(layout, fw).asv_result_files(sha):
        return path.parent.name
    return ""


def failure(rec: ModelResult) -> str:
    """Why a model failed, with the limit it hit where one did (`out_of_memory` at 120 MiB)."""
    limit = next((s.limit for s in rec.stages.values() if not s.ok and s.limit), "")
    return f"{rec.reason} (limit: {limit})" if limit and limit not in rec.reason else rec.reason


def cell(metric: Metric, rec: ModelResult, href: str) -> Cell:
    raw = metric.value(rec)
    value = summary(raw)
    if value is None:
        return Cell(None, format_value(None, metric.unit))
    title = f"{metric.label}: {exact(value, metric.unit)}"
    if isinstance(raw, list) and len(raw) > 1:
        low, high = (format_value(x, metric.unit) for x in (min(raw), max(raw)))
        title += f" (median of {len(raw)}, {low} to {high})"
    return Cell(value, format_value(value, metric.unit), title, href)


# the settings a reader compares variants on; the others (ezkl records fifteen) fold away under them
HEADLINE_SETTINGS = ("calibration_target", "used_logrows", "used_input_scale", "used_param_scale",
                     "used_lookup_range", "decimals", "output_scale")


def headline_first(settings: dict) -> list[tuple[str, str, bool]]:
    """(name, value, headline?) with the headline settings first, in HEADLINE_SETTINGS order."""
    order = {k: i for i, k in enumerate(HEADLINE_SETTINGS)}
    keys = sorted(settings, key=lambda k: (order.get(k, len(order)), k))
    return [(k, str(settings[k]), k in order) for k in keys]


def record_row(card: FrameworkCard, sha: str, rec: ModelResult, known: dict, layout: Layout) -> Row:
    fw = card.framework
    machine = asv_machine(layout, fw.name, sha) or rec.machine.get("host", "")
    detail = ", ".join(f"{k} {v}" for k, v in rec.machine.items() if k != "host")
    cells = {m.name: cell(m, rec, asv_graph_url(fw.name, m, rec.model, rec.variant) if card.site else "")
             for m in METRICS}
    for m in METRICS:
        if m.effect == "cpu_time" and cells[m.name].value is not None:
            cells[m.name].normalised = format_modmuls(normalised_cpu(cells[m.name].value, rec.calibration))
        if m.stage in card.stage_labels and cells[m.name].title:
            cells[m.name].title = f"{fw.name}'s {card.stage_labels[m.stage]}; {cells[m.name].title}"
    reason = "" if rec.status == Status.OK else failure(rec)
    return Row(fw.name, rec.model, rec.variant, card.color, rec.status, reason,
               revision_info(fw, sha, known.get(sha, {})), machine, detail,
               headline_first(rec.settings), cells)


def framework_state(fw: Framework, layout: Layout, has_records: bool, status: dict | None) -> tuple[str, str]:
    """ok, unsupported, unavailable, build_failed or not_run, and why; `status` is the last run's status.json
    (None when missing or unreadable: then the records say whether it ran). Whether a framework can run here
    is the run's to find (it dials hosts) and status.json's to say: a publish opens no connection."""
    unsupported = get_adapter(fw.adapter).unsupported_reason
    if unsupported:
        return Status.UNSUPPORTED, unsupported
    if status is None:
        return (Status.OK, "") if has_records else (Status.NOT_RUN, never_run(fw))
    if status.get("status") not in (None, Status.OK):
        return status["status"], status.get("reason", "")
    runs = status.get("revisions", [])
    if not has_records and runs and all(r.get("status") == Status.BUILD_FAILED for r in runs):
        return Status.BUILD_FAILED, runs[-1].get("reason", "")
    return (Status.OK, "") if has_records else (Status.NOT_RUN, never_run(fw))


def never_run(fw: Framework) -> str:
    """Why a card has no figures when no run has tried the framework: the default job leaves some out."""
    if fw.default_job:
        return "no results yet"
    return f"left out of the default job (too slow for it): zkml-tracker run -f {fw.name}"


def build_failures(layout: Layout, fw: str) -> list[tuple[str, str]]:
    found = [b or {} for _, b in kept_build_failures(FrameworkStore(layout, fw))]
    return [(b.get("label", ""), b.get("reason", "")) for b in found if b.get("status") == Status.BUILD_FAILED]


def framework_card(fw: Framework, color: str, layout: Layout, state: StateRead) -> FrameworkCard:
    known = state.revisions(fw)
    latest = latest_records(layout, fw.name, known, state.say)
    last_run = state.status(fw)
    status, reason = framework_state(fw, layout, bool(latest), last_run)
    site = f"{quote(fw.name)}/index.html" if (layout.html / fw.name / "index.json").exists() else ""
    notes = (last_run or {}).get("notes", []) + setup_notes(latest)
    card = FrameworkCard(fw, color, status, reason, site, notes=notes, build_failures=build_failures(layout, fw.name),
                         stage_labels=dict(get_adapter(fw.adapter).stage_labels))
    if known:
        sha, info = max(known.items(), key=lambda kv: history_order(kv[1]))
        card.latest = revision_info(fw, sha, info)
    card.rows = [record_row(card, sha, rec, known, layout) for sha, rec in latest]
    return card


SETUP_FILES = (("ptau", "powers of tau"), ("srs", "SRS"))


def setup_notes(latest: list[tuple[str, ModelResult]]) -> list[str]:
    """Which setup files the latest records' keys came from, as the records say: a known-tau ptau or a
    locally made SRS is insecure, fine for benchmarks, and the page says so beside the figures."""
    return list(dict.fromkeys(f"keys from {label}: {rec.provenance[key]}" for _, rec in latest
                              for key, label in SETUP_FILES if rec.provenance.get(key)))


def absent_row(card: FrameworkCard, model: str) -> Row:
    """A framework with no figure for a model still gets a row, saying why."""
    status = card.status if card.status != Status.OK else Status.NOT_RUN
    reason = card.reason if card.status != Status.OK else "no result for this model"
    return Row(card.framework.name, model, "", card.color, status, reason)


def model_rows(card: FrameworkCard, model: str) -> list[Row]:
    """The framework's rows for one model, variants in the order frameworks.yaml lists them."""
    order = {name: i for i, name in enumerate(card.framework.variant_names)}
    mine = [r for r in card.rows if r.model == model]
    return sorted(mine, key=lambda r: (order.get(r.variant, len(order)), r.variant)) or [absent_row(card, model)]


def model_section(model: str, cards: list[FrameworkCard]) -> ModelSection:
    rows = [row for card in cards for row in model_rows(card, model)]
    shown = {name for r in rows for name, c in r.cells.items() if c.value is not None}
    return ModelSection(model, column_groups(shown), rows, charts_for(model, rows), model_differences(rows))


def column_groups(shown: set[str]) -> list[tuple[str, list[Column]]]:
    """The groups of columns that have a figure in some row; a metric no group names goes under "other"."""
    grouped = [(name, [Column(BY_NAME[m], h) for m, h in cols if m in shown]) for name, cols in GROUPS]
    named = {m for _, cols in GROUPS for m, _ in cols}
    grouped.append(("other", [Column(m, m.label) for m in METRICS if m.name in shown and m.name not in named]))
    return [(name, cols) for name, cols in grouped if cols]


def charts_for(model: str, rows: list[Row]) -> list[Chart]:
    charts = []
    for name in CHARTS:
        metric = BY_NAME[name]
        cells = [(r, r.cells[name]) for r in rows if name in r.cells and r.cells[name].value is not None]
        items = [Item(r.label, c.value, r.color, c.href, f"{r.label}: {c.title}") for r, c in cells]
        chart = log_bar_chart(f"{metric.label}, {model} (log scale)", metric.unit, items)
        if chart is not None:
            charts.append(chart)
    return charts


def recent_regressions(config: Config, state: StateRead, found: list[Regression]) -> list[RegressionRow]:
    """The newest rows first, each with its commit's date and subject, its change and its graph."""
    rows = []
    for reg in found:
        info = state.revisions(config.framework(reg.framework)).get(reg.first_bad, {})
        metric = BY_NAME.get(reg.metric)
        unit = metric.unit if metric else ""
        change = f"{format_value(reg.before, unit)} → {format_value(reg.after, unit)}"
        graph = asv_graph_url(reg.framework, metric, reg.model, reg.variant, reg.commits.replace("..", "-")) \
            if metric else ""
        rows.append(RegressionRow(reg, info.get("date", ""), info.get("subject", ""), change, graph))
    rows.sort(key=lambda r: r.date, reverse=True)
    return rows[:RECENT_REGRESSIONS]


def collect(config: Config, layout: Layout, say=print) -> Site:
    """Everything the page shows, its state files checked as they are read (tracker.store.state.StateRead)."""
    state = StateRead(layout, say)
    cards = [framework_card(fw, PALETTE[i % len(PALETTE)], layout, state) for i, fw in enumerate(config.frameworks)]
    models = sorted({r.model for c in cards for r in c.rows})
    verdicts: Verdicts = find_verdicts(config, layout, state=state)
    sections = [model_section(m, cards) for m in models]
    for card in cards:
        if card.rows:
            card.measured_pros, card.measured_cons = measured_pros_cons(
                card.framework.name, {s.name: s.differences for s in sections})
    return Site(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), cards,
                sections, recent_regressions(config, state, verdicts.regressions),
                recent_regressions(config, state, verdicts.not_confirmed), verdicts.unreadable,
                recent_regressions(config, state, verdicts.too_early))


# --- rendering -----------------------------------------------------------------------------------------

def environment() -> Environment:
    env = Environment(loader=PackageLoader("tracker.publish", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = format_value
    return env


def render(site: Site) -> str:
    return environment().get_template("index.html").render(site=site)


def write_site(config: Config, layout: Layout) -> Path:
    path = layout.html / "index.html"
    atomic_write_text(path, render(collect(config, layout)))
    return path
