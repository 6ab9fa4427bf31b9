"""Publishing, the service every command that publishes calls (`publish`, `run`, `nightly`, `bisect`): asv's
site for each framework with results, built aside and swapped in whole, then the comparison page over them.
It reads what runs recorded and opens no network connection.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tracker.config import Config
from tracker.fsutil import atomic_write_json, describe_os_error, read_json, replace_dir
from tracker.history import HistoryError
from tracker.layout import Layout
from tracker.measure import ChildFailed
from tracker.publish.offline import localize
from tracker.run import asv
from tracker.run.context import open_framework
from tracker.store.paths import FrameworkStore


def publish_all(config: Config, layout: Layout) -> list[str]:
    """Publish every framework that has results; return the frameworks whose publish failed.

    Each framework's site is built aside and swapped in whole: a publish that fails or is killed part-way
    leaves the previous site as it was, never one without its index or graphs."""
    from tracker.publish.site import write_site  # Jinja2 and the report's verdicts: loaded when a site is written

    failed = []
    for fw in config.frameworks:
        if not has_results(layout, fw.name):
            continue
        try:
            why = publish_framework(config, fw, layout)
        except OSError as exc:  # one framework's site dir unwritable: the others are still published
            why = f"cannot publish: {describe_os_error(exc)}; the previous site is kept"
        if why:
            print(f"{fw.name}: {why}")
            failed.append(fw.name)
    index = write_site(config, layout)
    print(f"site published: open {index} (or run `zkml-tracker preview`)")
    return failed


def has_results(layout: Layout, framework: str) -> bool:
    return bool(FrameworkStore(layout, framework).asv_result_files())


def aside_dir(layout: Layout, framework: str) -> Path:
    """Where a framework's next site is built: beside the published one, so the swap is a rename."""
    return layout.html / f".{framework}.publishing"


def publish_framework(config: Config, fw, layout: Layout) -> str | None:
    """asv's site for one framework, built aside then swapped in; None, or why the old site was kept."""
    try:
        conf = open_framework(config, layout, fw, print).asv_config
    except HistoryError as exc:
        return f"cannot publish: {exc}"
    aside = aside_dir(layout, fw.name)
    shutil.rmtree(aside, ignore_errors=True)  # what a publish killed before its swap left
    log = FrameworkStore(layout, fw.name).logs / "asv-publish.log"
    try:
        asv.publish(aside_config(conf, aside), log, layout.step_cache(fw.name))
    except ChildFailed as exc:
        shutil.rmtree(aside, ignore_errors=True)
        tail = next((line for line in reversed(exc.log_tail.splitlines()) if line.strip()), "")
        return f"asv publish failed: {exc.reason}{': ' + tail.strip() if tail else ''} (log: {log}); " \
               f"the previous site is kept"
    missing = site_missing(aside)
    if missing:
        shutil.rmtree(aside, ignore_errors=True)
        return f"asv publish wrote no {', '.join(missing)} (log: {log}); the previous site is kept"
    make_offline(fw.name, aside, layout.cache)
    replace_dir(aside, layout.html / fw.name)
    return None


def aside_config(conf: Path, html_dir: Path) -> Path:
    """The framework's derived asv config with its html dir pointed at `html_dir`."""
    data = read_json(conf)
    data["html_dir"] = str(html_dir)
    path = conf.with_name("asv.publish.conf.json")
    atomic_write_json(path, data)
    return path


SITE_FILES = ("index.html", "index.json", "graphs")


def site_missing(site: Path) -> list[str]:
    """What a complete asv site has and `site` lacks."""
    return [name for name in SITE_FILES if not (site / name).exists()]


def broken_sites(config: Config, layout: Layout) -> list[str]:
    """Frameworks with results whose published site is missing or lacks a part (and the comparison page)."""
    with_results = [fw.name for fw in config.frameworks if has_results(layout, fw.name)]
    broken = [name for name in with_results if site_missing(layout.html / name)]
    if with_results and not (layout.html / "index.html").exists():
        broken.append("the comparison page")
    return broken


def make_offline(framework: str, site: Path, cache: Path) -> None:
    """asv's pages load their libraries from CDNs: serve them from the site itself."""
    done = localize(site, cache)
    if done.reason:
        print(f"{framework}: asv's graphs will need the network to draw: {done.reason}")
    elif done.unknown:
        print(f"{framework}: asv's page still loads from the network: {', '.join(done.unknown)}")
