"""Bar charts on a log scale, laid out here and drawn as inline SVG by the template (`_chart.html`).

Only geometry is computed here; every label reaches the page through Jinja2's autoescaping, so a
framework or variant name cannot break out of the SVG. The page needs no JavaScript to show them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from tracker.publish.units import format_value

BAR_H, GAP, TOP, AXIS_H, PLOT_W, VALUE_W = 16, 6, 8, 22, 260, 70
CHAR_W, MAX_LABEL = 6.6, 32


@dataclass
class Bar:
    label: str
    text: str
    y: float
    width: float
    color: str
    href: str = ""
    title: str = ""


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class Chart:
    title: str
    left: float
    width: float
    height: float
    plot_width: float
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)

    @property
    def axis_y(self) -> float:
        return self.height - AXIS_H


@dataclass
class Item:
    """One bar to draw: `value` in the metric's own unit."""

    label: str
    value: float
    color: str
    href: str = ""
    title: str = ""


def decades(values: list[float]) -> tuple[int, int]:
    """The powers of ten around the values; the shortest bar still spans at least 0.3 of a decade."""
    lo = math.floor(math.log10(min(values)) - 0.3)
    hi = math.ceil(math.log10(max(values)))
    return lo, max(hi, lo + 1)


def shorten(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"


def log_bar_chart(title: str, unit: str, items: list[Item]) -> Chart | None:
    """A horizontal bar per item, lengths on a log10 axis; None when there is nothing positive to draw."""
    items = [i for i in items if i.value and i.value > 0]
    if not items:
        return None
    lo, hi = decades([i.value for i in items])
    left = min(max(len(shorten(i.label)) for i in items) * CHAR_W + 10, MAX_LABEL * CHAR_W)
    chart = Chart(title, left, left + PLOT_W + VALUE_W, TOP + len(items) * (BAR_H + GAP) + AXIS_H, PLOT_W)

    def x(value: float) -> float:
        return (math.log10(value) - lo) / (hi - lo) * PLOT_W

    for n, item in enumerate(items):
        chart.bars.append(Bar(shorten(item.label), format_value(item.value, unit), TOP + n * (BAR_H + GAP),
                              max(x(item.value), 2.0), item.color, item.href, item.title or item.label))
    chart.ticks = [Tick(x(10.0 ** k), format_value(10.0 ** k, unit)) for k in range(lo, hi + 1)]
    return chart
