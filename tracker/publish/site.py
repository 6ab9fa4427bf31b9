"""html/index.html: for each model, the frameworks side by side at their latest revision.

asv publishes one site per framework (html/<framework>/); this page answers the question across them.
It is rendered with Jinja2 and autoescaping, because commit subjects, branch names and error messages
come from outside and must show as text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from tracker import records
from tracker.adapters import get_adapter
from tracker.config import Config, Framework
from tracker.fsutil import atomic_write_text, read_json
from tracker.metrics import METRICS, summary
from tracker.records import ModelResult
from tracker.run.asv import Layout


@dataclass
class Row:
    """One framework variant's latest figures for one model."""

    framework: Framework
    variant: str
    revision: str
    label: str
    result: ModelResult

    def value(self, metric) -> float | None:
        return summary(metric.value(self.result))


@dataclass
class FrameworkCard:
    framework: Framework
    status: str
    reason: str
    latest: str = ""
    rows: list[Row] = field(default_factory=list)


def latest_revision(layout: Layout, fw: str) -> tuple[str, dict] | None:
    """The most recent revision (by date) that has records."""
    known = (read_json(layout.results / fw / "revisions.json") or {}).get("revisions", {})
    dated = sorted(((info.get("date", ""), sha) for sha, info in known.items()
                    if (layout.records(fw) / sha).is_dir()), reverse=True)
    return (dated[0][1], known[dated[0][1]]) if dated else None


def collect(config: Config, layout: Layout) -> list[FrameworkCard]:
    cards = []
    for fw in config.frameworks:
        status = read_json(layout.results / fw.name / "status.json") or {}
        why = get_adapter(fw.adapter).status()
        card = FrameworkCard(fw, "ready" if why is None else "cannot run here", why or status.get("reason", ""))
        latest = latest_revision(layout, fw.name)
        if latest:
            sha, info = latest
            card.latest = info.get("label", sha[:8])
            for rec in records.load_revision(layout.records(fw.name), sha):
                card.rows.append(Row(fw, rec.variant, sha, card.latest, rec))
        cards.append(card)
    return cards


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "bytes":
        for size, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= size:
                return f"{value / size:.1f} {name}"
        return f"{value:.0f} B"
    if unit == "fraction":
        return f"{value * 100:.1f} %"
    return f"{value:.4g}"


def write_site(config: Config, layout: Layout) -> Path:
    env = Environment(loader=PackageLoader("tracker.publish", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["fmt"] = format_value
    cards = collect(config, layout)
    models = sorted({row.result.model for card in cards for row in card.rows})
    html = env.get_template("index.html").render(
        cards=cards, models=models, metrics=METRICS,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        has_site={c.framework.name: (layout.html / c.framework.name / "index.html").exists() for c in cards},
    )
    path = layout.html / "index.html"
    atomic_write_text(path, html)
    return path
