"""One asv series per framework, model and machine, wherever the tracker is installed.

Two checkouts of the tracker at different paths, each with its own interpreter path (a venv of its own
whose packages are this venv's), run the real CLI in child processes on a throwaway framework repo, and
their points land in one asv series: the same result file names, the same params, one graph. Results an
older tracker wrote under asv's path-named environment join that series when published or merged.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from asv.environment import get_env_name

from tests.conftest import installed_assets
from tests.synthetic import Step, config_text, make_repo
from tracker.fsutil import read_json
from tracker.publish.offline import asset_dir

ROOT = Path(__file__).resolve().parents[1]
VERSION = "%d.%d" % sys.version_info[:2]
ENV = f"existing-py{VERSION}"
PROOF_GRAPH = "benchmarks.ProofSize.track_proof_size.json"
pytestmark = pytest.mark.slow


class Checkout:
    """A copy of the tracker's source at `where`, run by an interpreter of its own at `where/.venv`."""

    def __init__(self, where: Path, repo: Path, assets: Path):
        self.root = where
        for part in ("tracker", "benchmarks"):
            shutil.copytree(ROOT / part, where / part, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "asv.conf.json", where)
        (where / "frameworks.yaml").write_text(config_text(repo))
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where / ".venv")], check=True)
        self.python = where / ".venv" / "bin" / "python"
        site = Path(subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
        # this checkout's tracker first, then the packages of the venv running the tests
        (site / "checkout.pth").write_text(f"{where}\n{sysconfig.get_paths()['purelib']}\n")
        (where / "cache").mkdir()
        (where / "cache" / "asv-www").symlink_to(assets)  # the site's JavaScript, installed from npm once

    def __call__(self, results: Path, html: Path, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "ZKML_TRACKER_MACHINE": "test-machine"}
        env.pop("VIRTUAL_ENV", None)
        return subprocess.run([str(self.python), "-m", "tracker", "--config", str(self.root / "frameworks.yaml"),
                               "--results", str(results), "--html", str(html), "--cache", str(self.root / "cache"),
                               *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def world(tmp_path_factory, test_cache):
    base = tmp_path_factory.mktemp("series")
    installed_assets(test_cache)  # or each checkout's publish installs them (one at a time, not two workers)
    assets = asset_dir(test_cache)
    assets.mkdir(exist_ok=True)
    shas = make_repo(base / "repo", [Step(delay=0.01, proof_bytes=1000 + 100 * i) for i in range(4)])
    one = Checkout(base / "one" / "zkml-tracker", base / "repo", assets)
    two = Checkout(base / "elsewhere" / "two" / "zkml-tracker", base / "repo", assets)
    return shas, one, two, base


def ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def result_files(results: Path) -> dict[str, dict]:
    return {p.name: read_json(p) for p in (results / "synth" / "asv" / "test-machine").glob("*.json")
            if p.name != "machine.json"}


def proof_graphs(html: Path) -> list[list]:
    """The proof-size series asv published (its summary graph aside)."""
    graphs = html / "synth" / "graphs"
    return [json.loads(p.read_text()) for p in sorted(graphs.rglob(PROOF_GRAPH)) if p.parent.name != "summary"]


def test_two_checkouts_add_points_to_one_series(world):
    shas, one, two, base = world
    results, html = base / "shared-results", base / "shared-html"
    for checkout, revisions, so_far in ((one, shas[:2], shas[:2]), (two, shas[2:3], shas[:3])):
        ok(checkout(results, html, "run", "--no-publish", "-m", "linear", *(f"-r{sha}" for sha in revisions)))
        files = result_files(results)  # as asv wrote them, before anything renames a file
        assert sorted(files) == sorted(f"{sha[:8]}-{ENV}.json" for sha in so_far)
        assert {d["params"]["python"] for d in files.values()} == {VERSION}
        assert {d["env_name"] for d in files.values()} == {ENV}
    ok(one(results, html, "publish"))
    graphs = proof_graphs(html)
    assert len(graphs) == 1, "the two checkouts started separate series"
    assert [value for _, value in graphs[0]] == [[1000.0], [1100.0], [1200.0]]


def as_older_tracker_wrote_it(path: Path, python: str) -> Path:
    """Rewrite a result as the tracker did before: asv's existing environment named after `python`'s path."""
    data = read_json(path)
    name = get_env_name("existing", python.replace(os.sep, "_"), {}, {})
    data.update(env_name=name, python=python, params={**data["params"], "python": python})
    old = path.with_name(f"{data['commit_hash'][:8]}-{name}.json")
    old.write_text(json.dumps(data))
    return old


def test_older_path_named_results_join_the_series_when_merged(world):
    shas, one, two, base = world
    shard_one, shard_two = base / "shard-one", base / "shard-two"
    ok(one(shard_one, base / "html-one", "run", "--no-publish", "-m", "linear", "-r", shas[0], "-r", shas[1]))
    ok(two(shard_two, base / "html-two", "run", "--no-publish", "-m", "linear", "-r", shas[3]))
    machine_dir = shard_one / "synth" / "asv" / "test-machine"
    new_0 = machine_dir / f"{shas[0][:8]}-{ENV}.json"
    # shard one as an older tracker in another checkout left it: both commits path-named, and commit 1
    # there twice (an old result and a newer one of the same commit)
    old_0 = as_older_tracker_wrote_it(new_0, f"/old/checkout/.venv/bin/python{VERSION}")
    new_0.unlink()
    old_1 = as_older_tracker_wrote_it(machine_dir / f"{shas[1][:8]}-{ENV}.json", "/x/.venv/bin/python")

    merged = base / "merged"
    done = two(merged, base / "html-merged", "publish", "--merge", str(shard_one), str(shard_two))
    ok(done)
    assert f"{old_0.name}: renamed {new_0.name}" in done.stdout
    assert f"{old_1.name}: {shas[1][:8]}-{ENV}.json is newer for the same commit" in done.stdout
    files = result_files(merged)
    assert sorted(files) == sorted(f"{sha[:8]}-{ENV}.json" for sha in (shas[0], shas[1], shas[3]))
    assert {d["params"]["python"] for d in files.values()} == {VERSION}
    set_aside = merged / "synth" / "asv" / "test-machine" / f"{old_1.name}.path-env"
    assert read_json(set_aside)["params"]["python"] == "/x/.venv/bin/python"
    graphs = proof_graphs(base / "html-merged")
    assert len(graphs) == 1
    assert [value for _, value in graphs[0]] == [[1000.0], [1100.0], [1300.0]]
