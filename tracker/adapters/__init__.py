"""The framework adapters, listed explicitly: adding a framework is one module here plus one entry below."""
from __future__ import annotations

from tracker.adapters.base import Adapter
from tracker.adapters.ezkl import EzklAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    EzklAdapter.name: EzklAdapter,
}


def get_adapter(name: str) -> Adapter:
    return ADAPTERS[name]()
