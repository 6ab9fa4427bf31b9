"""`zkml-tracker run`: benchmark revisions of frameworks, then publish the site."""
from __future__ import annotations

import argparse

from tracker.publish.service import publish_all
from tracker.config import Config
from tracker.layout import Layout
from tracker.lock import holding_lock
from tracker.records import Status
from tracker.run.runner import FrameworkOutcome, Request, RevisionOutcome, run as run_frameworks


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="benchmark revisions of frameworks and publish the site",
                       description=__doc__)
    add_selection_arguments(p)
    p.add_argument("--no-publish", action="store_true", help="do not publish the site afterwards")
    p.set_defaults(func=main)


def add_selection_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--framework", "-f", action="append", dest="frameworks", metavar="NAME",
                   help="a framework from frameworks.yaml (repeatable; default: the default job, every framework "
                        "but those marked `default_job: false`)")
    p.add_argument("--all", action="store_true", dest="every_framework",
                   help="every framework in frameworks.yaml, those left out of the default job included")
    p.add_argument("--revision", "-r", action="append", dest="revisions", metavar="REV",
                   help="a commit, tag or release version (repeatable)")
    p.add_argument("--latest", type=int, metavar="N", help="the N most recent revisions")
    p.add_argument("--range", metavar="A..B", help="the commits after A up to and including B")
    p.add_argument("--steps", type=int, metavar="N", help="sample N revisions evenly (ends included)")
    p.add_argument("--shard", type=_shard, metavar="I/N", help="run only shard I of N (1-based) of the revisions")
    p.add_argument("--model", "-m", action="append", dest="models", metavar="NAME", help="a model (repeatable)")
    p.add_argument("--suite", choices=("tiny", "standard"), help="the model suite (default: from frameworks.yaml)")
    p.add_argument("--variant", action="append", dest="variants", metavar="NAME", help="a variant (repeatable)")
    p.add_argument("--repeats", type=_repeats, metavar="N", help="repeats of each timed stage (default: 3)")
    p.add_argument("--eval-count", type=int, metavar="N", help="evaluation images for accuracy (default: all)")
    p.add_argument("--force", action="store_true", help="prove again even where a record exists")


def _repeats(text: str) -> int:
    from tracker.config import MAX_REPEATS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_REPEATS:
        raise argparse.ArgumentTypeError(f"{value}: need 1 to {MAX_REPEATS}")
    return value


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"shard {text!r}: need 1 <= I <= N")
    return i, n


def request_from(args: argparse.Namespace) -> Request:
    """`run`'s arguments (add_selection_arguments) as the runner's typed request."""
    return Request(frameworks=args.frameworks, revisions=args.revisions, latest=args.latest, range=args.range,
                   steps=args.steps, shard=args.shard, models=args.models, suite=args.suite,
                   variants=args.variants, repeats=args.repeats, eval_count=args.eval_count, force=args.force,
                   default_job=not args.frameworks and not args.every_framework)


@holding_lock("run")
def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    outcomes = run_frameworks(config, layout, request_from(args))
    print_summary(outcomes)
    if not args.no_publish:
        publish_all(config, layout)
    return 0 if all(_clean(o) for o in outcomes) else 1


def _clean(o: FrameworkOutcome) -> bool:
    """Nothing failed: a framework or a model that cannot run here or in that release (circomlib-ml
    1.3.0 has no pooling templates for the cnn) is recorded with its reason, and is not a failure."""
    return o.status in (Status.OK, Status.UNSUPPORTED, Status.UNAVAILABLE) and all(map(_clean_revision, o.revisions))


def _clean_revision(r: RevisionOutcome) -> bool:
    return r.status == Status.OK or bool(r.models) and set(r.models.values()) <= {Status.OK, Status.UNSUPPORTED}


def print_summary(outcomes: list[FrameworkOutcome]) -> None:
    print("\nsummary:")
    for o in outcomes:
        if o.status != Status.OK:
            print(f"  {o.name:14} {o.status}: {o.reason}")
            continue
        if not o.revisions:
            print(f"  {o.name:14} nothing to run")
        for r in o.revisions:
            status = Status.OK if _clean_revision(r) else r.status
            print(f"  {o.name:14} {r.revision.label:14} {status}{': ' + r.reason if r.reason else ''}")
