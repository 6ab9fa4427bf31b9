"""Step detection block by block (tracker.publish.steps) against asv's own detector, on real asv."""
import json
import os
import random
import shutil
import subprocess
import sys

import asv
import pytest
from asv import step_detect

from tests.conftest import ROOT, load_bench
from tracker.publish.steps import BLOCK, SolveCache, detect_steps

ASV_DETECT = step_detect.detect_steps


class Counting:
    """asv's detector, counting the series it is asked to solve."""

    def __init__(self):
        self.calls = 0

    def __call__(self, y, w=None):
        self.calls += 1
        return ASV_DETECT(y, w)


def series(n: int, jumps: dict[int, float], seed: int = 0, noise: float = 0.02, holes: float = 0.0) -> list:
    rng, level, y = random.Random(seed), 1.0, []
    for i in range(n):
        level *= jumps.get(i, 1.0)
        y.append(None if rng.random() < holes else level * (1 + rng.gauss(0, noise)))
    return y


def ours(y, w, tmp_path, detector=ASV_DETECT):
    cache = SolveCache(tmp_path / "steps", detector, asv.__version__)
    return detect_steps(y, w, cache.solve, detector), cache


def test_a_series_up_to_one_block_is_asvs_own_result(tmp_path):
    y = series(BLOCK, {120: 1.5, 400: 0.5})
    assert ours(y, None, tmp_path)[0] == ASV_DETECT(y)


@pytest.mark.parametrize("jumps", [
    {300: 2.0, 1700: 1.3},                        # steps far from block boundaries
    {BLOCK - 3: 2.0},                             # just before a boundary: the block before sees 3 points
    {BLOCK + 2: 0.5, 2 * BLOCK: 1.4},              # just after one, and exactly on one
    {},                                           # flat: one segment across every block
])
def test_a_long_series_has_the_steps_asv_finds_over_the_whole(tmp_path, jumps):
    y = series(2600, jumps, holes=0.03)
    w = [None if i % 7 == 0 else 1.0 + (i % 3) for i in range(len(y))]
    found, _ = ours(y, w, tmp_path)
    expected = ASV_DETECT(y, w)
    assert [s[:2] for s in found] == [s[:2] for s in expected]
    for mine, theirs in zip(found, expected):   # value, minimum, mean deviation
        assert mine[2:] == pytest.approx(theirs[2:])
    assert len(found) == len(jumps) + 1


def test_a_publish_after_one_new_point_solves_only_the_last_block(tmp_path):
    y = series(2600, {900: 1.8})
    detector = Counting()
    first, cache = ours(y, None, tmp_path, detector)
    assert detector.calls == 6 + 5    # six blocks, five seams
    detector.calls = 0
    again = detect_steps(y + [y[-1]], None, cache.solve, detector)
    assert detector.calls == 1        # the last block; its seam (100 points either side) is unchanged
    detector.calls = 0
    detect_steps(y[:2550], None, cache.solve, detector)
    assert detector.calls == 2        # a last block under 100 points: its seam changes with it
    assert [s[:2] for s in again] == [s[:2] for s in first[:-1]] + [(first[-1][0], 2601)]


def test_an_unreadable_entry_is_solved_again(tmp_path):
    y = series(1200, {700: 2.0})
    first, cache = ours(y, None, tmp_path)
    for entry in cache.root.glob("*.json"):
        entry.write_text('[[0, 1')
    detector = Counting()
    cache.asv_detect = detector
    assert detect_steps(y, None, cache.solve, detector) == first
    assert detector.calls == 5


def test_prune_keeps_only_the_entries_the_last_publish_used(tmp_path):
    y = series(1200, {700: 2.0})
    _, cache = ours(y, None, tmp_path)
    kept = sorted(cache.root.glob("*.json"))
    stale = cache.root / ("0" * 64 + ".json")
    stale.write_text("[[0, 1]]")
    os.utime(stale, (1, 1))
    assert cache.prune(used_since=2) == 1
    assert sorted(cache.root.glob("*.json")) == kept


@pytest.mark.slow
def test_publish_finds_the_regressions_plain_asv_finds_on_a_long_history(tmp_path):
    """1,200 commits of results: the tracker's publish and plain `asv publish` report the same jumps."""
    bench = load_bench()
    shas = bench.make_linear_repo(tmp_path / "repo", 1200)
    config = tmp_path / "frameworks.yaml"
    config.write_text(bench.SYNTH_CONFIG.format(repo=tmp_path / "repo"))
    shutil.copy(ROOT / "asv.conf.json", tmp_path / "asv.conf.json")
    cache = tmp_path / "cache"
    tracker = [sys.executable, "-m", "tracker", "--config", str(config), "--cache", str(cache)]
    subprocess.run([*tracker, "run", "-f", "synth", "-r", shas[-1], "-m", "linear", "--no-publish"],
                   check=True, capture_output=True, cwd=ROOT)
    bench.fill_history(tmp_path / "results" / "synth" / "asv", shas)

    subprocess.run([*tracker, "publish"], check=True, capture_output=True, cwd=ROOT)
    ours_found = json.loads((tmp_path / "html" / "synth" / "regressions.json").read_text())
    assert len(list((cache / "asv" / "synth" / "steps").glob("*.json"))) > 0

    plain = json.loads((cache / "asv" / "synth" / "asv.conf.json").read_text())
    plain["html_dir"] = str(tmp_path / "plain-html")
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(tmp_path / "plain.json")],
                   check=True, capture_output=True, cwd=ROOT)
    asv_found = json.loads((tmp_path / "plain-html" / "regressions.json").read_text())
    jumps = sorted((r[0], r[6][0][1]) for r in ours_found["regressions"])
    assert jumps == sorted((r[0], r[6][0][1]) for r in asv_found["regressions"])
    assert {name for name, _ in jumps} == {"benchmarks.ProofSize.track_proof_size('linear', 'default')",
                                           "benchmarks.ProveTime.track_prove_time('linear', 'default')"}
