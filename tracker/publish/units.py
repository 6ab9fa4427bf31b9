"""Numbers for people: each metric's unit turned into the one a reader expects (ms or s, KB or MB, %)."""
from __future__ import annotations

DASH = "–"
BYTE_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"))


def significant(x: float, digits: int = 3) -> str:
    """`digits` significant figures, no exponent, no trailing zeros: 2.8, 138, 0.0123, 12,345."""
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    text = f"{x:.{digits}g}"
    if "e" in text:  # tiny values: fall back to a plain decimal
        text = f"{x:.{digits + 6}f}".rstrip("0").rstrip(".")
    return text


def seconds(value: float) -> str:
    if value >= 120:
        return f"{significant(value / 60)} min"
    if value >= 1:
        return f"{significant(value)} s"
    if value >= 1e-3:
        return f"{significant(value * 1e3)} ms"
    return f"{significant(value * 1e6)} µs"


def size(value: float) -> str:
    """Bytes in decimal units (1 KB = 1,000 B), as proof and key sizes are usually quoted."""
    for scale, name in BYTE_UNITS:
        if value >= scale:
            return f"{significant(value / scale)} {name}"
    return f"{value:.0f} B"


def format_value(value: float | None, unit: str) -> str:
    """A metric's value with its unit, for a table cell or a chart label."""
    if value is None:
        return DASH
    if unit == "seconds":
        return seconds(value)
    if unit == "bytes":
        return size(value)
    if unit == "fraction":
        return f"{significant(value * 100)} %"
    if unit in ("log2 rows", "constraints"):
        return f"{value:,.0f}"
    return significant(value, 4)


def exact(value: float | None, unit: str) -> str:
    """The value as recorded, for a tooltip: 2.80312 seconds, 19,234 bytes."""
    if value is None:
        return ""
    if unit == "bytes" or float(value).is_integer():
        return f"{value:,.0f} {unit}"
    return f"{value:.6g} {unit}"
