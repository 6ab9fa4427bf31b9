"""No import cycle among tracker's modules and no import up the layers, lazy imports inside functions included.

A cycle hidden behind a function-level import works until someone moves the import to the top; the graph
below counts every `import`/`from ... import` in a module, wherever it stands, so the layering is checked
as written and not only as it happens to load. Each module is also imported alone in a fresh interpreter.

The layers, from the bottom: the config (read without any adapter), the histories, the adapters, the builds,
the run, the report (verdicts on what runs recorded), publishing (the site, which shows the report), the
commands, the command line. A module imports from its own layer or the ones below; the modules beside the
layers (records, measure, types, layout, fsutil, models, ...) import none of them.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tracker"
LAYERS = ("config", "history", "adapters", "build", "store", "run", "report", "publish", "commands", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def tracker_modules() -> dict[str, Path]:
    """Every module of the package but the scripts adapters run in children (not imported by tracker)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "scripts" not in p.relative_to(PACKAGE).parts}


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The tracker module an import names: itself, or its nearest enclosing package."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from tracker.adapters import base` names a submodule; `from tracker.x import f` names x
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            hit = _resolve(target, modules) if target.startswith("tracker") else None
            if hit and hit != name:
                found.add(hit)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = tracker_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules, first repeated last; None when the graph has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_check_sees_a_lazy_cycle():
    graph = {"tracker.a": {"tracker.b"}, "tracker.b": {"tracker.a"}, "tracker.c": set()}
    assert find_cycle(graph) == ["tracker.a", "tracker.b", "tracker.a"]
    assert find_cycle({"tracker.a": {"tracker.b"}, "tracker.b": set()}) is None


def test_no_import_cycle_among_tracker_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def import_alone(name: str) -> str | None:
    """Import one module in a fresh interpreter; the last line of its error, or None if it imported."""
    done = subprocess.run([sys.executable, "-c", f"import importlib; importlib.import_module({name!r})"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    return None if done.returncode == 0 else f"{name}: {done.stderr.strip().splitlines()[-1:]}"


def test_each_module_imports_alone_in_a_fresh_interpreter():
    """One interpreter per module, as many at a time as there are cores (each is its own process, so
    running them side by side changes nothing a module sees)."""
    names = [name for name in tracker_modules() if not name.endswith("__main__")]  # importing it runs the CLI
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        failures = [failure for failure in pool.map(import_alone, names) if failure]
    assert failures == []


def layer(module: str) -> int | None:
    """The module's layer, bottom 0; None for a module beside the layers (`tracker.__main__` is the cli's)."""
    part = module.split(".")[1] if "." in module else ""
    part = "cli" if part == "__main__" else part
    return LAYERS.index(part) if part in LAYERS else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import up the layers, or from a module beside them into one, as `importer -> imported`."""
    bad = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            low, high = layer(target), layer(importer)
            if low is not None and (high is None or low > high):
                bad.append(f"{importer} -> {target}")
    return bad


def test_layer_check_sees_an_import_up_or_from_beside():
    graph = {"tracker.config": {"tracker.adapters.base", "tracker.types"}, "tracker.records": {"tracker.run.state"},
             "tracker.publish.site": {"tracker.report.regressions", "tracker.run.state"},
             "tracker.__main__": {"tracker.cli"}, "tracker.run.runner": {"tracker.publish.service"}}
    assert layer_violations(graph) == ["tracker.config -> tracker.adapters.base",
                                       "tracker.records -> tracker.run.state",
                                       "tracker.run.runner -> tracker.publish.service"]


def test_every_import_goes_down_the_layers():
    graph = import_graph()
    assert {layer(m) for m in graph} >= set(range(len(LAYERS)))  # every layer is there to be checked
    assert layer_violations(graph) == []
