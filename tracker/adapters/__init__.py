"""The framework adapters, listed explicitly: adding a framework is one module here plus one entry below."""
from __future__ import annotations

from typing import Any, Mapping

from tracker.adapters import settings
from tracker.adapters.base import Adapter
from tracker.adapters.circom import CircomAdapter
from tracker.adapters.command import CommandAdapter
from tracker.adapters.ezkl import EzklAdapter
from tracker.adapters.keras2circom import Keras2CircomAdapter
from tracker.adapters.noir import NoirAdapter
from tracker.adapters.o1js import O1jsAdapter
from tracker.adapters.opml import OpmlAdapter
from tracker.adapters.orion import OrionAdapter
from tracker.adapters.settings import SettingError
from tracker.adapters.zkml import ZkmlAdapter
from tracker.adapters.zktorch import ZktorchAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    EzklAdapter.name: EzklAdapter,
    CommandAdapter.name: CommandAdapter,
    CircomAdapter.name: CircomAdapter,
    Keras2CircomAdapter.name: Keras2CircomAdapter,
    OrionAdapter.name: OrionAdapter,
    ZkmlAdapter.name: ZkmlAdapter,
    OpmlAdapter.name: OpmlAdapter,
    ZktorchAdapter.name: ZktorchAdapter,
    O1jsAdapter.name: O1jsAdapter,
    NoirAdapter.name: NoirAdapter,
}


def get_adapter(name: str) -> Adapter:
    return ADAPTERS[name]()


def check_settings(adapter: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's settings as the named adapter takes them, checked against what it declares
    (`Adapter.variant_settings`); raises `SettingError` naming the first bad key and why."""
    return settings.check(adapter, ADAPTERS[adapter].variant_settings, given)


__all__ = ["ADAPTERS", "Adapter", "SettingError", "check_settings", "get_adapter"]
