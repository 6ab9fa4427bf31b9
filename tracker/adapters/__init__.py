"""The framework adapters, listed explicitly: adding a framework is one module here plus one entry below.

The registry also finishes loading the config: `tracker.config` reads the file without knowing any adapter,
and `check_config` then checks what only an adapter knows, with the same one-line file:line: field errors.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
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
from tracker.config import Config, read_config
from tracker.types import Framework

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


def load_config(path: Path | str) -> Config:
    """frameworks.yaml read (`tracker.config`) and checked against the adapters; raises `ConfigError`."""
    return check_config(read_config(path))


def check_config(config: Config) -> Config:
    """`config` with every framework's adapter known, its variants' settings as the adapter takes them, and
    the adapter's default variants where the file gives none; the first bad field raises `ConfigError`."""
    return replace(config, frameworks=tuple(_checked(config, f"frameworks[{i}]", fw)
                                            for i, fw in enumerate(config.frameworks)))


def _checked(config: Config, where: str, fw: Framework) -> Framework:
    if fw.adapter not in ADAPTERS:
        raise config.fail(f"{where}.adapter", f"unknown adapter {fw.adapter!r} (known: {', '.join(ADAPTERS)})")
    if not fw.variants:
        return replace(fw, variants=ADAPTERS[fw.adapter].default_variants())
    variants = []
    for j, variant in enumerate(fw.variants):
        try:
            settings = check_settings(fw.adapter, variant.as_dict())
        except SettingError as exc:
            raise config.fail(f"{where}.variants[{j}].settings.{exc.key}", exc.reason) from None
        variants.append(replace(variant, settings=tuple(sorted(settings.items()))))
    return replace(fw, variants=tuple(variants))


__all__ = ["ADAPTERS", "Adapter", "SettingError", "check_config", "check_settings", "get_adapter", "load_config"]
