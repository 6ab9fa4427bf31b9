"""The asv environment the tracker runs its benchmarks in: the tracker's own interpreter, named by version.

asv's `existing` environment is named after its interpreter's path (`existing-py_home_me_zkml_.venv_bin_
python`) and puts that path in every result's `python` param, and asv's graphs are keyed by those params.
So a fresh clone in another directory, or a second machine with the same ZKML_TRACKER_MACHINE whose
checkout lives elsewhere, started new graphs. The benchmarks only read the tracker's records (the provers
run in their own builds), so where the tracker is installed says nothing about the figures; its Python
version is kept, as asv keeps it for every environment it makes.

`TrackerEnvironment` is asv's existing environment under the name `existing-py<X.Y>`, python param `X.Y`,
running the same interpreter. The derived asv config loads this module as an asv plugin (`plugins`) and
the tracker selects it with `--environment tracker:<python>`; `asv` run by hand on the derived config
loads it too. `adopt_path_named_results` renames results written under the old path-named environment,
so history from before (or merged from another checkout) stays one series.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from asv import util
from asv.environment import ExistingEnvironment, get_env_name

from tracker.fsutil import atomic_write_json

TOOL = "tracker"             # the name to select it by: `--environment tracker:<python>`
NAME_PREFIX = "existing-py"  # what it is named, as asv names an existing environment
SET_ASIDE = ".path-env"      # suffix of an old result that a newer one of the same commit replaced


class TrackerEnvironment(ExistingEnvironment):
    """asv's existing environment, named and keyed by the interpreter's version instead of its path."""

    tool_name = TOOL

    def __init__(self, conf, executable, requirements, tagged_env_vars):
        super().__init__(conf, executable, requirements, tagged_env_vars)
        # asv's Environment.__init__ stored the path as `python`; results' params take it from there
        self._python = util.check_output(
            [self._executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).strip()

    @property
    def name(self):
        return get_env_name("existing", self._python, {}, self._tagged_env_vars)


def env_name(version: str) -> str:
    return get_env_name("existing", version, {}, {})


def adopt_path_named_results(results_dir: Path) -> list[str]:
    """Rename asv results of a path-named existing environment to the version-named one; say what moved.

    The version comes from the interpreter's file name (`python3.11`) or else from the tracker's records
    of that commit (`records/<commit>/*.json`, machine.python). A result whose version cannot be told is
    left as it was (still read, as its own series). Where the commit already has a result under the new
    name, that one is kept and the old one set aside as `*.json.path-env`: nothing is deleted.
    """
    said = []
    for path in sorted(results_dir.glob("*/*.json")):
        if path.name in ("machine.json", "benchmarks.json"):
            continue
        try:
            data = _read(path)
        except ValueError:
            continue  # torn or not asv's: set_aside_torn_results deals with it
        python = (data.get("params") or {}).get("python")
        if not (isinstance(python, str) and os.sep in python and data.get("env_name", "").startswith(NAME_PREFIX)):
            continue
        version = _version_of(python, results_dir.parent / "records" / data.get("commit_hash", "-"))
        if version is None:
            said.append(f"{path.name}: left as it was (the interpreter's version cannot be told from "
                        f"{python} or the commit's records)")
            continue
        said.append(_adopt(path, data, version))
    return said


def _adopt(path: Path, data: dict, version: str) -> str:
    target = path.with_name(f"{data['commit_hash'][:8]}-{env_name(version)}.json")
    if target.exists():
        os.replace(path, path.with_name(path.name + SET_ASIDE))
        return f"{path.name}: {target.name} is newer for the same commit; the old one set aside as {path.name}{SET_ASIDE}"
    data = {**data, "params": {**data["params"], "python": version}, "python": version,
            "env_name": env_name(version)}
    atomic_write_json(target, data)
    os.remove(path)
    return f"{path.name}: renamed {target.name} (its environment was named after the interpreter's path)"


def _version_of(python: str, records: Path) -> str | None:
    named = re.search(r"python(\d+\.\d+)$", python)
    if named:
        return named.group(1)
    for record in sorted(records.glob("*.json")):
        try:
            full = (_read(record).get("machine") or {}).get("python", "")
        except ValueError:
            continue
        found = re.match(r"(\d+\.\d+)", full or "")
        if found:
            return found.group(1)
    return None


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data
