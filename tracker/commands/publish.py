"""`zkml-tracker publish`: asv's site for each framework, and the comparison page over them."""
from __future__ import annotations

import argparse
from pathlib import Path

from tracker.config import Config
from tracker.history import HistoryError, open_history
from tracker.publish.merge import merge_into
from tracker.publish.offline import localize
from tracker.measure import ChildFailed
from tracker.run import asv
from tracker.run.asv import Layout


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="publish the static site from the recorded results", description=__doc__)
    p.add_argument("--merge", nargs="+", type=Path, metavar="DIR",
                   help="first merge results made elsewhere (CI matrix jobs, shards) into the results dir")
    p.set_defaults(func=main)


def publish_all(config: Config, layout: Layout) -> list[str]:
    """Publish every framework that has results; return the frameworks whose asv publish failed."""
    from tracker.publish.site import write_site

    failed = []
    for fw in config.frameworks:
        if not any(layout.asv_results(fw.name).glob("*/*.json")):
            continue
        try:
            conf = asv_config_for(config, fw, layout)
        except HistoryError as exc:
            print(f"{fw.name}: cannot publish: {exc}")
            failed.append(fw.name)
            continue
        for torn in asv.set_aside_torn_results(layout.asv_results(fw.name)):
            print(f"{fw.name}: asv result {torn.name} was torn: set aside as {torn.name}.torn (rerun the "
                  f"revision to write it again from its records)")
        for line in asv.adopt_path_named_results(layout.asv_results(fw.name)):
            print(f"{fw.name}: asv result {line}")
        try:
            asv.publish(conf, layout.logs(fw.name) / "asv-publish.log", layout.step_cache(fw.name))
        except ChildFailed as exc:
            print(f"{fw.name}: asv publish failed: {exc.reason} (log: {layout.logs(fw.name) / 'asv-publish.log'})")
            failed.append(fw.name)
            continue
        make_offline(fw.name, layout)
    index = write_site(config, layout)
    print(f"site published: open {index} (or run `zkml-tracker preview`)")
    return failed


def make_offline(framework: str, layout: Layout) -> None:
    """asv's pages load their libraries from CDNs: serve them from the site itself."""
    done = localize(layout.html / framework, layout.cache)
    if done.reason:
        print(f"{framework}: asv's graphs will need the network to draw: {done.reason}")
    elif done.unknown:
        print(f"{framework}: asv's page still loads from the network: {', '.join(done.unknown)}")


def asv_config_for(config: Config, fw, layout: Layout) -> Path:
    """The framework's derived asv config; asv publish needs its history repo, so open it (cached)."""
    history = open_history(fw, layout.cache)
    return asv.derive_config(fw, history.repo_path, history.branch, layout, config.root / "asv.conf.json",
                             history.commit_url)


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    if args.merge:
        merged = merge_into(layout.results, args.merge)
        print(f"merged {len(args.merge)} shard(s): {', '.join(merged) or 'nothing'}")
    return 1 if publish_all(config, layout) else 0
