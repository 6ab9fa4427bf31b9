"""A variant's `settings:` checked against what its adapter declares, so the config loader need not know.

An adapter declares each setting it reads in one entry of its `variant_settings`: the name, then `(int,)`,
`(float,)`, `(str,)`, or `(str, "choice", ...)` for one of a few words. Integers are at least 0, floats
finite and above 0, strings one non-empty line. `check` names the first bad key and why, in words a
config error can carry as they are (`SettingError.key`, `SettingError.reason`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping


class SettingError(ValueError):
    """One setting an adapter does not take: its key, and why (one line)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


def check(adapter: str, declared: Mapping[str, tuple], settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` as the adapter takes them (an int where a float is declared becomes a float)."""
    checked = {}
    for key, value in settings.items():
        if key not in declared:
            raise SettingError(key, f"unknown key for adapter {adapter} (allowed: {', '.join(declared)})"
                               if declared else f"unknown key: adapter {adapter} takes no settings")
        try:
            checked[key] = _value(declared[key], value)
        except ValueError as exc:
            raise SettingError(key, str(exc)) from None
    return checked


def _value(spec: tuple, value: Any) -> Any:
    kind, *choices = spec
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if value < 0:
            raise ValueError(f"must be at least 0, got {value}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        if value <= 0:
            raise ValueError(f"must be greater than 0, got {value}")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    if "\n" in value or "\x00" in value:
        raise ValueError("must be one line")
    if choices and value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return value
