"""`zkml-tracker bisect`: find the single commit where a metric changed, between a good and a bad commit.

Benchmarks only the commits it needs (binary search over the first-parent commits in between), only
the affected model and variant, then publishes. A value counts as "bad" when it is closer to the bad
commit's value than to the good one's (on a log scale, so 2x slower and 2x larger proofs read alike).
"""
from __future__ import annotations

import argparse
import math

from tracker import records
from tracker.adapters import get_adapter
from tracker.commands import publish
from tracker.config import Config
from tracker.history import open_history, select
from tracker.lock import holding_lock
from tracker.metrics import BY_NAME, summary
from tracker.run import asv
from tracker.run.asv import Layout
from tracker.run.runner import Request, run_revision


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bisect", help="find the commit where a metric changed", description=__doc__)
    p.add_argument("--framework", "-f", required=True, metavar="NAME")
    p.add_argument("--model", "-m", required=True)
    p.add_argument("--variant", help="default: the framework's first variant")
    p.add_argument("--metric", required=True, choices=sorted(BY_NAME))
    p.add_argument("good", help="a commit with the old value")
    p.add_argument("bad", help="a later commit with the new value")
    p.add_argument("--repeats", type=int)
    p.set_defaults(func=main)


def bisect(config: Config, layout: Layout, framework: str, model: str, variant: str | None, metric: str,
           good: str, bad: str, repeats: int | None = None, say=print) -> str | None:
    """The first commit whose value is like `bad`'s, or None if a measurement failed."""
    fw = config.framework(framework)
    variant = variant or fw.variant_names[0]
    history = open_history(fw, layout.cache)
    ends = select.pinned(history, [good, bad])
    candidates = select.between(history, ends[0].sha, ends[1].sha)
    request = Request(frameworks=[fw.name], models=[model], variants=[variant], repeats=repeats,
                      bench=f"track_{metric}")
    asv_config = asv.derive_config(fw, history.repo_path, history.branch, layout, config.root / "asv.conf.json",
                                   history.commit_url)
    asv.ensure_machine(asv_config, layout.logs(fw.name) / "asv-machine.log")
    adapter = get_adapter(fw.adapter)

    def value(revision) -> float | None:
        rec = records.load(records.record_path(layout.records(fw.name), revision.sha, model, variant))
        if rec is None:
            run_revision(config, fw, adapter, history, revision, asv_config, layout, request, say)
            rec = records.load(records.record_path(layout.records(fw.name), revision.sha, model, variant))
        return summary(BY_NAME[metric].value(rec)) if rec is not None else None

    v_good, v_bad = value(ends[0]), value(ends[1])
    if not v_good or not v_bad:
        say(f"bisect: cannot measure {metric} at both ends ({v_good!r}, {v_bad!r})")
        return None
    say(f"bisect: {metric} {v_good:.4g} at {ends[0].label}, {v_bad:.4g} at {ends[1].label}; "
        f"{len(candidates)} commit(s) in between")
    lo, hi = -1, len(candidates)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        v = value(candidates[mid])
        if v is None:
            say(f"bisect: {candidates[mid].label} could not be measured; stopping")
            return None
        is_bad = abs(math.log(v / v_bad)) < abs(math.log(v / v_good)) if v > 0 else False
        say(f"bisect: {candidates[mid].label}: {v:.4g} -> {'bad' if is_bad else 'good'}")
        lo, hi = (lo, mid) if is_bad else (mid, hi)
    first_bad = candidates[hi] if hi < len(candidates) else ends[1]
    say(f"bisect: first commit with the new {metric}: {first_bad.sha} {first_bad.label} {first_bad.subject}")
    return first_bad.sha


@holding_lock("bisect")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    found = bisect(config, layout, args.framework, args.model, args.variant, args.metric, args.good, args.bad,
                   args.repeats)
    publish.publish_all(config, layout)
    return 0 if found else 1
