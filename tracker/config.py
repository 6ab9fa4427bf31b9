"""`frameworks.yaml`, validated once at load into typed, frozen objects.

Every error names the file, the line and the field (`frameworks.yaml:14: frameworks[1].history.kind: ...`),
so a user can fix a bad file without reading a traceback. Anything the rest of the tracker reads from the
config has been checked here: names are safe as path components, repo URLs cannot run commands, and
revisions cannot be mistaken for git options. What only an adapter knows (its name, the settings its
variants take, its default variants) the adapter registry checks after this load (`tracker.adapters.
load_config`), with the line of each such field kept here in `Config.lines` so its errors read the same.
The config imports no adapter: reading the file loads neither them nor what they need (numpy).
"""
from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from tracker.measure import Limits
from tracker.types import BUILD_LIMITS, SUITE_NAMES, BuildRecipe, Framework, HistorySpec, Package, Selection, Variant

CONFIG_VERSION = 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SAFE_URL_RE = re.compile(r"^(https?|git|ssh)://[^\s]+$")
HISTORY_KINDS = ("releases", "commits")
REGISTRIES = ("pypi", "npm")
BUILD_KINDS = ("pip", "npm", "commands", "cargo", "none")
SETUP_KINDS = ("trusted", "universal", "transparent", "none")
# bounds on the file itself: a config is a few KiB and a few levels deep; past these it is a mistake or an attack
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
# bounds on what a value may ask for: past these a figure never comes back (a week per stage, 1 TiB, ...)
MAX_TIMEOUT_S = 7 * 86400.0
MAX_MEMORY_MB = 1 << 20
MAX_LOG_MB = 1 << 10
MAX_REPEATS = 100
MAX_COUNT = 100_000  # latest, steps, nightly_max
# what the `command` adapter fills into a stage command (tracker/adapters/command.py)
STAGE_PLACEHOLDERS = ("src", "workdir", "model", "onnx", "input", "proof", "vk", "pk")


class ConfigError(Exception):
    """A problem in the config file, located to a line and a field."""

    def __init__(self, path: Path | str, line: int | None, field_: str, message: str):
        self.path, self.line, self.field, self.message = Path(path), line, field_, message
        where = f"{Path(path).name}:{line}" if line else f"{Path(path).name}"
        super().__init__(f"{where}: {field_}: {message}" if field_ else f"{where}: {message}")


@dataclass(frozen=True)
class Config:
    path: Path
    frameworks: tuple[Framework, ...]
    default_suite: str = "tiny"
    repeats: int = 3
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)  # field -> line

    @property
    def root(self) -> Path:
        return self.path.parent

    def fail(self, field_: str, message: str) -> ConfigError:
        """An error at one field of the file, for the checks made after load (the adapter registry's)."""
        return ConfigError(self.path, self.lines.get(field_), field_, message)

    def framework(self, name: str) -> Framework:
        for fw in self.frameworks:
            if fw.name == name:
                return fw
        known = ", ".join(f.name for f in self.frameworks)
        raise ConfigError(self.path, None, "framework", f"unknown framework {name!r} (known: {known})")


# --- the walker: a YAML node plus where it is -------------------------------------------------------

@dataclass
class _At:
    """A composed YAML node with its dotted field name, for errors that point at it."""

    node: yaml.Node
    field: str
    path: Path
    key: yaml.Node | None = None  # the mapping key this value stands under, if any

    @property
    def line(self) -> int:
        """The value's line; for a block mapping or list, the line of the key that names it."""
        if self.key is not None and not isinstance(self.node, yaml.ScalarNode):
            return self.key.start_mark.line + 1
        return self.node.start_mark.line + 1

    def fail(self, message: str) -> ConfigError:
        return ConfigError(self.path, self.line, self.field, message)

    def mapping(self, allowed: tuple[str, ...] | None, required: tuple[str, ...] = ()) -> dict[str, "_At"]:
        """The mapping's values by key; `allowed` None takes any key (another part checks them)."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail(f"must be a mapping, got {_kind(self.node)}")
        out: dict[str, _At] = {}
        for key_node, value_node in self.node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            sub = _At(value_node, f"{self.field}.{key}" if self.field else str(key), self.path, key_node)
            if not isinstance(key, str):
                raise _At(key_node, self.field, self.path).fail("keys must be strings")
            if allowed is not None and key not in allowed:
                raise _At(key_node, sub.field, self.path).fail(f"unknown key (allowed: {', '.join(allowed)})")
            if key in out:
                raise _At(key_node, sub.field, self.path).fail("duplicate key")
            out[key] = sub
        for key in required:
            if key not in out:
                raise self.fail(f"missing required key {key!r}")
        return out

    def sequence(self) -> list["_At"]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.fail(f"must be a list, got {_kind(self.node)}")
        return [_At(n, f"{self.field}[{i}]", self.path) for i, n in enumerate(self.node.value)]

    def scalar(self) -> Any:
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.fail(f"must be a single value, got {_kind(self.node)}")
        return _construct(self.node)

    def string(self, pattern: re.Pattern | None = None, hint: str = "") -> str:
        value = self.scalar()
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"must be a non-empty string, got {value!r}")
        if "\n" in value or "\x00" in value:
            raise self.fail("must be one line")
        if pattern is not None and not pattern.match(value):
            raise self.fail(f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value

    def choice(self, options: tuple[str, ...]) -> str:
        value = self.string()
        if value not in options:
            raise self.fail(f"{value!r} is not one of {', '.join(options)}")
        return value

    def integer(self, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.scalar()
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"must be an integer, got {value!r}")
        if value < minimum:
            raise self.fail(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(f"must be at most {maximum}, got {value}")
        return value

    def boolean(self) -> bool:
        value = self.scalar()
        if not isinstance(value, bool):
            raise self.fail(f"must be true or false, got {value!r}")
        return value

    def number(self, minimum: float = 0, maximum: float | None = None) -> float:
        """A finite number above `minimum`: NaN compares false with everything, so it would pass any bound."""
        value = self.scalar()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(f"must be a finite number, got {self.node.value}")
        if value <= minimum:
            raise self.fail(f"must be greater than {minimum:g}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(f"must be at most {maximum:g}, got {value:g}")
        return float(value)

    def strings(self, item: Callable[["_At"], str] | None = None) -> tuple[str, ...]:
        return tuple((item or _At.string)(x) for x in self.sequence())


def _construct(node: yaml.ScalarNode) -> Any:
    return yaml.SafeLoader("").construct_object(node)


def _kind(node: yaml.Node) -> str:
    return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(type(node), "a single value")


# --- loading -----------------------------------------------------------------------------------------

def read_config(path: Path | str) -> Config:
    """Read and validate the config file as far as it goes without the adapters; raise `ConfigError` on
    the first problem. A framework without `variants:` has none yet: the registry gives it its adapter's."""
    path = Path(path)
    text = _read(path)
    try:
        _check_events(text, path)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, mark.line + 1 if mark else None, "", f"YAML syntax: {problem}") from None
    if root is None:
        raise ConfigError(path, None, "", "file is empty")
    return _config(_At(root, "", path), path)


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(path, None, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(path, None, "", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(path, None, "", f"larger than {MAX_BYTES >> 10} KiB: not a frameworks file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, data[:exc.start].count(b"\n") + 1, "", f"not UTF-8: {exc.reason}") from None


def _check_events(text: str, path: Path) -> None:
    """Refuse explicit tags and deep nesting from the event stream, before anything is composed or built.

    A tag asks the loader to build some type (`!!python/object:...`, `!!int abc`, a custom `!tag`), which
    a frameworks file never needs; and PyYAML composes recursively, so 10,000 levels would be a
    RecursionError. The parser itself is iterative, so both are seen here with their line and field.
    """
    stack: list[list] = []  # per open collection: [is_mapping, key or index, expecting a key]
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
            _advance(stack)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        line, where = event.start_mark.line + 1, _field_of(stack)
        if getattr(event, "tag", None) not in (None, "!"):
            raise ConfigError(path, line, where, f"YAML tag {event.tag!r} is not allowed (plain values only)")
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise ConfigError(path, line, where, f"nested deeper than {MAX_DEPTH} levels")
            is_mapping = isinstance(event, yaml.MappingStartEvent)
            stack.append([is_mapping, None if is_mapping else 0, True])
            continue
        if stack and stack[-1][0] and stack[-1][2]:
            stack[-1][1] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
        _advance(stack)


def _advance(stack: list[list]) -> None:
    """One value done in the innermost collection: a mapping flips between key and value, a list counts."""
    if not stack:
        return
    top = stack[-1]
    if top[0]:
        top[2] = not top[2]
    else:
        top[1] += 1


def _field_of(stack: list[list]) -> str:
    out = ""
    for is_mapping, key, _ in stack:
        if is_mapping and key is not None:
            out += f".{key}" if out else str(key)
        elif not is_mapping:
            out += f"[{key}]"
    return out


def _config(at: _At, path: Path) -> Config:
    keys = at.mapping(("version", "suite", "repeats", "frameworks"), required=("version", "frameworks"))
    version = keys["version"].integer(1)
    if version != CONFIG_VERSION:
        raise keys["version"].fail(f"unsupported version {version} (this tracker reads {CONFIG_VERSION})")
    suite = keys["suite"].choice(SUITE_NAMES) if "suite" in keys else "tiny"
    repeats = keys["repeats"].integer(1, MAX_REPEATS) if "repeats" in keys else 3
    items = keys["frameworks"].sequence()
    if not items:
        raise keys["frameworks"].fail("must list at least one framework")
    frameworks = [_framework(item, path) for item in items]
    seen: dict[str, Framework] = {}
    for item, fw in zip(items, frameworks):
        if fw.name in seen:
            raise item.fail(f"duplicate framework name {fw.name!r} (first on line {seen[fw.name].line})")
        seen[fw.name] = fw
    return Config(path.resolve(), tuple(frameworks), suite, repeats, _lines(items))


def _lines(items: list[_At]) -> dict[str, int]:
    """The line of each field the adapter registry checks after load: a framework's adapter, each of its
    variants' settings."""
    lines = {}
    for item in items:
        keys = item.mapping(None)
        lines[keys["adapter"].field] = keys["adapter"].line
        for variant in keys["variants"].sequence() if "variants" in keys else ():
            settings = variant.mapping(None).get("settings")
            lines.update({value.field: value.line for value in settings.mapping(None).values()} if settings else {})
    return lines


FRAMEWORK_KEYS = ("name", "adapter", "proof_system", "setup", "model_format", "repo", "history", "build",
                  "variants", "limits", "pros", "cons", "stages", "default_job")
STAGE_NAMES = ("setup", "prove", "verify")


def _framework(at: _At, path: Path) -> Framework:
    keys = at.mapping(FRAMEWORK_KEYS, required=("name", "adapter", "proof_system", "model_format", "history",
                                                "build"))
    name = keys["name"].string(NAME_RE, "lower-case letters, digits, '-' and '_', at most 40")
    adapter_name = keys["adapter"].string()
    repo = _repo(keys["repo"], path) if "repo" in keys else None
    history = _history(keys["history"])
    if history.kind == "commits" and repo is None:
        raise at.fail("a 'commits' history needs a 'repo' (URL or local path)")
    variants = _variants(keys["variants"]) if "variants" in keys else ()
    return Framework(
        name=name,
        adapter=adapter_name,
        proof_system=keys["proof_system"].string(),
        setup_kind=keys["setup"].choice(SETUP_KINDS) if "setup" in keys else "none",
        model_format=keys["model_format"].string(),
        repo=repo,
        history=history,
        build=_build(keys["build"]),
        variants=variants,
        limits=_limits(keys["limits"]) if "limits" in keys else Limits(),
        pros=keys["pros"].strings() if "pros" in keys else (),
        cons=keys["cons"].strings() if "cons" in keys else (),
        stages=_stages(keys["stages"]) if "stages" in keys else (),
        default_job=keys["default_job"].boolean() if "default_job" in keys else True,
        line=at.line,
    )


def _stages(at: _At) -> tuple[tuple[str, str], ...]:
    """Shell commands of a `command` adapter, one per stage; placeholders are filled by the adapter."""
    return tuple((name, _stage_command(value)) for name, value in
                 at.mapping(STAGE_NAMES, required=("prove",)).items())


def _stage_command(at: _At) -> str:
    """A command whose placeholders are all ones the adapter fills, checked now rather than failing every
    record of a run (and `{src.__class__}` or `{src[0]}` would reach into Python objects)."""
    value = at.string()
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise at.fail(f"{exc} (write {{{{ and }}}} for a literal brace)") from None
    for name in fields:
        if name not in STAGE_PLACEHOLDERS:
            raise at.fail(f"unknown placeholder {{{name}}} (known: "
                          f"{', '.join('{' + p + '}' for p in STAGE_PLACEHOLDERS)})")
    if any(spec or conv for _, f, spec, conv in string.Formatter().parse(value) if f is not None):
        raise at.fail("placeholders take no format spec or conversion (write {name})")
    return value


def _repo(at: _At, config_path: Path) -> str:
    """A repo is an http(s)/git/ssh URL or a local path; command-running transports (ext::, fd::) are refused."""
    value = at.string()
    if "::" in value or value.startswith("-"):
        raise at.fail(f"{value!r} is not allowed: only http(s)://, git://, ssh:// URLs or a local path")
    if "://" in value:
        authority = value.split("://", 1)[1].split("/", 1)[0]
        user_host = authority.split("@")
        # a user or host beginning with '-' would reach ssh as an option (-oProxyCommand=...)
        if not SAFE_URL_RE.match(value) or any(not part or part.startswith("-") for part in user_host):
            raise at.fail(f"{value!r} is not allowed: only http(s)://, git://, ssh:// URLs or a local path")
        return value
    local = Path(value).expanduser()
    return str(local if local.is_absolute() else (config_path.parent / local).resolve())


def _revision(at: _At) -> str:
    value = at.string()
    if value.startswith("-") or ".." in value or any(c.isspace() for c in value):
        raise at.fail(f"{value!r} is not a revision (no leading '-', no spaces, no ranges here)")
    return value


def _range(at: _At) -> str:
    value = at.string()
    parts = value.split("..")
    if len(parts) != 2 or not all(parts) or any(p.startswith("-") or p.startswith(".") for p in parts) \
            or any(c.isspace() for c in value):
        raise at.fail(f"{value!r} is not a range: write FROM..TO with two revisions")
    return value


def _history(at: _At) -> HistorySpec:
    keys = at.mapping(("kind", "package", "branch", "select"), required=("kind",))
    kind = keys["kind"].choice(HISTORY_KINDS)
    package = None
    if "package" in keys:
        pk = keys["package"].mapping(("registry", "name"), required=("registry", "name"))
        package = Package(pk["registry"].choice(REGISTRIES),
                          pk["name"].string(re.compile(r"^(@[a-z0-9._-]+/)?[A-Za-z0-9._-]+$"), "a package name"))
    if kind == "releases" and package is None:
        raise at.fail("a 'releases' history needs a 'package' (registry and name)")
    branch = keys["branch"].string(re.compile(r"^[A-Za-z0-9._/][A-Za-z0-9._/-]*$"), "a branch name") \
        if "branch" in keys else "main"
    if ".." in branch:
        raise keys["branch"].fail(f"{branch!r} is not a branch name")
    return HistorySpec(kind, package, branch, _selection(keys["select"]) if "select" in keys else Selection())


def _selection(at: _At) -> Selection:
    keys = at.mapping(("latest", "pinned", "range", "steps", "nightly_max"))
    if "latest" in keys and "pinned" in keys:
        raise at.fail("give either 'latest' or 'pinned', not both")
    return Selection(
        latest=keys["latest"].integer(1, MAX_COUNT) if "latest" in keys else None,
        pinned=keys["pinned"].strings(_revision) if "pinned" in keys else (),
        range=_range(keys["range"]) if "range" in keys else None,
        steps=keys["steps"].integer(1, MAX_COUNT) if "steps" in keys else None,
        nightly_max=keys["nightly_max"].integer(1, MAX_COUNT) if "nightly_max" in keys else 5,
    )


def _build(at: _At) -> BuildRecipe:
    keys = at.mapping(("kind", "requirements", "commands", "env", "toolchains", "python", "features", "binaries",
                       "rust_toolchain", "limits"), required=("kind",))
    kind = keys["kind"].choice(BUILD_KINDS)
    commands = keys["commands"].strings() if "commands" in keys else ()
    requirements = keys["requirements"].strings() if "requirements" in keys else ()
    if kind == "commands" and not commands:
        raise (keys.get("commands") or at).fail("a 'commands' build needs a non-empty list of commands")
    if kind in ("pip", "npm") and not requirements:
        raise (keys.get("requirements") or at).fail(f"a '{kind}' build needs a non-empty list of requirements")
    cargo = _cargo_fields(at, keys, kind)
    env: list[tuple[str, str]] = []
    if "env" in keys:
        for name, value in keys["env"].mapping(tuple(_env_names(keys["env"]))).items():
            env.append((name, str(value.scalar())))
    return BuildRecipe(
        kind=kind, requirements=requirements, commands=commands, env=tuple(env),
        toolchains=keys["toolchains"].strings() if "toolchains" in keys else (),
        python=keys["python"].string() if "python" in keys else None, **cargo,
        limits=_limits(keys["limits"], BUILD_LIMITS) if "limits" in keys else BUILD_LIMITS,
    )


CARGO_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/-]*$")
RUST_TOOLCHAIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _cargo_fields(at: _At, keys: dict[str, _At], kind: str) -> dict[str, Any]:
    """`features`, `binaries` and `rust_toolchain` belong to a cargo build, which needs a binary to keep."""
    for key in ("features", "binaries", "rust_toolchain"):
        if key in keys and kind != "cargo":
            raise keys[key].fail(f"only a 'cargo' build takes {key}")
    if kind == "cargo" and "binaries" not in keys:
        raise at.fail("a 'cargo' build needs 'binaries': the --bin targets to keep")
    out = {key: keys[key].strings(lambda x: x.string(CARGO_NAME_RE, "a cargo feature or target name"))
           for key in ("features", "binaries") if key in keys}
    if kind == "cargo" and not out["binaries"]:
        raise keys["binaries"].fail("a 'cargo' build needs a non-empty list of binaries")
    if "rust_toolchain" in keys:
        out["rust_toolchain"] = keys["rust_toolchain"].string(RUST_TOOLCHAIN_RE, "a rustup toolchain (nightly, 1.80.0)")
    return out


def _env_names(at: _At) -> list[str]:
    """Environment names are checked for shape here so that `mapping` can treat them as allowed keys."""
    if not isinstance(at.node, yaml.MappingNode):
        raise at.fail("must be a mapping of NAME: value")
    names = []
    for key_node, _ in at.node.value:
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", str(key_node.value)):
            raise _At(key_node, f"{at.field}.{key_node.value}", at.path).fail("not an environment variable name")
        names.append(key_node.value)
    return names


def _variants(at: _At) -> tuple[Variant, ...]:
    items = at.sequence()
    if not items:
        raise at.fail("must list at least one variant (or leave 'variants' out for the adapter's defaults)")
    variants: list[Variant] = []
    for item in items:
        keys = item.mapping(("name", "settings", "limits"), required=("name",))
        name = keys["name"].string(NAME_RE, "lower-case letters, digits, '-' and '_'")
        if name in [v.name for v in variants]:
            raise keys["name"].fail(f"duplicate variant name {name!r}")
        settings = _settings(keys["settings"]) if "settings" in keys else {}
        limits = _limits(keys["limits"]) if "limits" in keys else None
        variants.append(Variant(name, tuple(sorted(settings.items())), limits))
    return tuple(variants)


def _settings(at: _At) -> dict[str, Any]:
    """Plain values under any keys, read here; which keys and values fit is the adapter's to say."""
    return {key: value.scalar() for key, value in at.mapping(None).items()}


def _limits(at: _At, defaults: Limits | None = None) -> Limits:
    """A stage's limits (timeout, memory_mb), or with `defaults` a build's, which also caps its log (log_mb)
    and whose fields left out keep the build defaults."""
    base = defaults or Limits()
    keys = at.mapping(("timeout", "memory_mb", "log_mb") if defaults else ("timeout", "memory_mb"))
    return Limits(
        timeout_s=keys["timeout"].number(0, MAX_TIMEOUT_S) if "timeout" in keys else base.timeout_s,
        memory_mb=keys["memory_mb"].integer(1, MAX_MEMORY_MB) if "memory_mb" in keys else base.memory_mb,
        log_mb=keys["log_mb"].number(0, MAX_LOG_MB) if "log_mb" in keys else base.log_mb,
    )
