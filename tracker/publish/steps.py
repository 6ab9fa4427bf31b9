"""Step detection for `asv publish`, block by block, remembered between publishes.

asv fits a piecewise-constant function to every series over its whole history at once (a Potts solver,
`asv.step_detect.detect_steps`). Its cost grows faster than the history (per series 0.007 s at 200
points, 0.085 s at 2,000, 0.7 s at 10,000 here), and each nightly pays all of it again, because every
series of the framework grew by one point: on 10,000 commits it was two thirds of `publish`.

Here a series longer than BLOCK points is cut into blocks of BLOCK points, each solved by asv's own
detector, and each boundary between blocks is solved again over a window of SEAM points either side, so a
step near a boundary lands where a solve that sees both sides puts it. Each solve is remembered by its
input, so a publish after one new commit solves only the last block and its seam. A series of at most
BLOCK points gets asv's own result, unchanged. The values of the final segments (weighted median, minimum,
mean deviation) are computed over the whole segment as asv computes them.

Run as `python -m tracker.publish.steps CACHE_DIR asv-arguments...`: asv with this detector in place.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

BLOCK = 500
SEAM = 100
FORMAT = 1

Interval = tuple[int, int]                           # [left, right) in the series' positions
Step = tuple[int, int, float, float, float]          # left, right, value, minimum, mean deviation
Solver = Callable[[list, list | None], list[Interval]]


def detect_steps(y: Sequence, w: Sequence | None, solve: Solver, asv_detect: Callable) -> list[Step]:
    """asv's `detect_steps` contract (same arguments and steps), computed block by block."""
    y = list(y)
    w = None if w is None else list(w)
    if len(y) <= BLOCK:
        return asv_detect(y, w)
    intervals: list[Interval] = []
    for start in range(0, len(y), BLOCK):
        block = shifted(solve(y[start:start + BLOCK], _part(w, start, start + BLOCK)), start)
        intervals = join(intervals, block, y, w, solve)
    return with_values(intervals, y, w)


def join(left: list[Interval], right: list[Interval], y: list, w: list | None, solve: Solver) -> list[Interval]:
    """Two neighbouring blocks' intervals as one list, the seam between them solved again."""
    if not left or not right:
        return left + right
    (a_left, a_right), (b_left, b_right) = left[-1], right[0]
    lo, hi = max(a_left, a_right - SEAM), min(b_right, b_left + SEAM)
    seam = shifted(solve(y[lo:hi], _part(w, lo, hi)), lo)
    seam[0] = (a_left, seam[0][1])      # the seam's first and last pieces continue the
    seam[-1] = (seam[-1][0], b_right)   # blocks' pieces they were cut from
    return left[:-1] + seam + right[1:]


def shifted(intervals: list[Interval], offset: int) -> list[Interval]:
    return [(left + offset, right + offset) for left, right in intervals]


def _part(w: list | None, lo: int, hi: int) -> list | None:
    return None if w is None else w[lo:hi]


def with_values(intervals: list[Interval], y: list, w: list | None) -> list[Step]:
    """Each interval's value, minimum and mean deviation, over its points, weighted as asv weighs them."""
    from asv import step_detect

    positions, values, weights = present_points(y, w)
    mu_dist = step_detect.get_mu_dist(values, weights)
    steps = []
    for left, right in intervals:
        lo, hi = bisect.bisect_left(positions, left), bisect.bisect_left(positions, right)
        steps.append((positions[lo], positions[hi - 1] + 1, mu_dist.mu(lo, hi - 1), min(values[lo:hi]),
                      abs(mu_dist.dist(lo, hi - 1) / (hi - lo))))
    return steps


def present_points(y: list, w: list | None) -> tuple[list[int], list[float], list[float]]:
    """The positions that have a value, their values, and their weights over the median weight (as asv)."""
    positions = [j for j, x in enumerate(y)
                 if x is not None and x == x and not (w is not None and w[j] is not None and w[j] <= 0)]
    values = [y[j] for j in positions]
    if w is None:
        return positions, values, [1.0] * len(positions)
    known = [x for x in w if x is not None and x == x]
    scale = (statistics.median(known) if known else 1.0) or 1.0
    return positions, values, [w[j] / scale if w[j] is not None and w[j] == w[j] else 1.0 for j in positions]


class SolveCache:
    """asv's detector on one piece of a series, remembered on disk by the piece's values and weights.

    Entries are keyed by asv's version too; an entry read is touched, so `prune` can drop the ones the
    latest publish did not use. A missing or unreadable entry is solved again.
    """

    def __init__(self, root: Path, asv_detect: Callable, asv_version: str):
        self.root, self.asv_detect, self.asv_version = root, asv_detect, asv_version

    def solve(self, y: list, w: list | None) -> list[Interval]:
        text = json.dumps([FORMAT, self.asv_version, y, w])
        path = self.root / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
        try:
            found = [(left, right) for left, right in json.loads(path.read_text())]
            os.utime(path)
            return found
        except (OSError, ValueError, TypeError):
            pass
        found = [(left, right) for left, right, *_ in self.asv_detect(y, w)]
        self._write(path, found)
        return found

    def _write(self, path: Path, intervals: list[Interval]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(intervals, f)
        os.replace(tmp, path)

    def prune(self, used_since: float) -> int:
        """Drop the entries not read or written since `used_since`; how many were dropped."""
        dropped = 0
        for path in self.root.glob("*.json"):
            if path.stat().st_mtime < used_since:
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped


def main(argv: list[str]) -> int:
    """asv's command line with this detector in place of asv's; the cache pruned after a good publish."""
    import asv
    import asv.main
    from asv import step_detect

    asv_detect = step_detect.detect_steps
    cache = SolveCache(Path(argv[0]), asv_detect, asv.__version__)
    step_detect.detect_steps = lambda y, w=None: detect_steps(y, w, cache.solve, asv_detect)
    started = time.time() - 1   # file times may be coarser than the clock
    sys.argv = ["asv", *argv[1:]]
    try:
        asv.main.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    cache.prune(started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
