"""One way to write the tracker's dataclasses as JSON and read them back, driven by their fields' types.

A Build in build.json, a record in records/, the whole Framework a revision job carries to the pipeline:
each was turned into a dict by hand and back by hand, in as many places as it was written. Here the
dataclass says it once. `to_json` gives plain JSON values (Path as str, tuples and lists as lists, enums
as their values); `from_json(cls, data)` reads them back by the field type hints: nested dataclasses,
`X | None`, `tuple[X, ...]` and fixed tuples such as `tuple[str, str]` (JSON lists become tuples again,
tuples of pairs included), `list[X]`, `dict[str, X]`, Path and enums. Scalars (str, int, float, bool,
Any) are taken as they are: a figure written as 1800 reads back as 1800, so a hash of it does not move.

Wrong data raises `SerialError` with the path of the field that is wrong (`build.env[0]: ...`); callers
add the file's name. A key the dataclass does not have is an error, a missing one takes its default.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

__all__ = ["SerialError", "from_json", "to_json"]


class SerialError(ValueError):
    """Data that does not fit the dataclass; the message starts with where it is (`field.sub[2]: ...`)."""


def to_json(obj: Any) -> Any:
    """`obj` (a dataclass, or what one holds) as JSON values, field by field, in field order."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (tuple, list)):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


def from_json(cls: Any, data: Any, where: str = "") -> Any:
    """`data` (from `to_json`, or a JSON file) read back as `cls`, a dataclass or any type hint above."""
    origin = typing.get_origin(cls)
    if cls is Any or cls is object:
        return data
    if origin is typing.Union or origin is types.UnionType:
        return _union(typing.get_args(cls), data, where)
    if origin in (tuple, list):
        return _sequence(cls, data, where)
    if origin is dict or cls is dict:
        return _mapping(cls, data, where)
    if dataclasses.is_dataclass(cls):
        return _dataclass(cls, data, where)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        try:
            return cls(data)
        except ValueError:
            raise _error(where, f"{data!r} is not one of {', '.join(repr(m.value) for m in cls)}") from None
    if cls is Path:
        if not isinstance(data, str):
            raise _error(where, f"expected a path (a string), got {type(data).__name__}")
        return Path(data)
    return data


def _error(where: str, message: str) -> SerialError:
    return SerialError(f"{where}: {message}" if where else message)


def _union(options: tuple, data: Any, where: str) -> Any:
    """`X | None`: None stays None; otherwise the one other type. Wider unions take the data as it is."""
    if data is None and type(None) in options:
        return None
    others = [o for o in options if o is not type(None)]
    return from_json(others[0], data, where) if len(others) == 1 else data


def _sequence(cls: Any, data: Any, where: str) -> Any:
    origin, args = typing.get_origin(cls), typing.get_args(cls)
    if not isinstance(data, (list, tuple)):
        raise _error(where, f"expected a list, got {type(data).__name__}")
    if origin is list:
        item = args[0] if args else Any
        return [from_json(item, x, f"{where}[{i}]") for i, x in enumerate(data)]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(from_json(args[0], x, f"{where}[{i}]") for i, x in enumerate(data))
    if not args:
        return tuple(data)
    if len(args) != len(data):
        raise _error(where, f"expected {len(args)} items, got {len(data)}")
    return tuple(from_json(a, x, f"{where}[{i}]") for i, (a, x) in enumerate(zip(args, data)))


def _mapping(cls: Any, data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise _error(where, f"expected a mapping, got {type(data).__name__}")
    key_type, value_type = typing.get_args(cls) or (Any, Any)
    return {from_json(key_type, k, where): from_json(value_type, v, f"{where}.{k}" if where else str(k))
            for k, v in data.items()}


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise _error(where, f"expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise _error(where, f"{cls.__name__} has no field {', '.join(map(repr, unknown))}")
    values = {name: from_json(hints[name], value, f"{where}.{name}" if where else name)
              for name, value in data.items()}
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _error(where, f"{cls.__name__} needs {', '.join(map(repr, missing))}")
    return cls(**values)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    """The init fields of `cls` and their types, resolved from the (postponed) annotations once."""
    resolved = typing.get_type_hints(cls)
    return {f.name: resolved[f.name] for f in dataclasses.fields(cls) if f.init}
