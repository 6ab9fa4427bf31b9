"""asv's pages load jQuery, flot and bootstrap from CDNs; this makes a published asv site work offline.

asv 0.6's `index.html` names each library by a CDN address. The same releases are on the npm registry,
so they are installed once with npm into the tracker's cache, copied into `html/<framework>/vendor/`,
and the tags rewritten to point there. The site then works from a plain file server with no network,
as the comparison page does. An address this table does not know (a newer asv) is left as it was, and
said; so is everything when npm is not at hand.

npm runs only when the tracker's cache lacks a library, and then from npm's own cache first (`--offline`:
no connection; measured on a warm npm cache: 2.1 s wall, 0.87 s CPU, against 2.6 s and 1.06 s for the
install that asks the registry), going to the registry only when npm's cache lacks one too.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tracker.measure import ChildFailed, Limits, run_measured

# (how the CDN address in asv's index.html ends, the npm release that has the same library, its file there);
# flot's npm release has the unminified files, and stupidtable 1.0.1 is not on npm: 1.1.3 keeps its API
ASSETS: tuple[tuple[str, str, str], ...] = (
    ("/jquery-3.3.1.min.js", "jquery@3.3.1", "dist/jquery.min.js"),
    ("/flot/0.8.3/jquery.flot.min.js", "flot@0.8.3", "jquery.flot.js"),
    ("/flot/0.8.3/jquery.flot.time.min.js", "flot@0.8.3", "jquery.flot.time.js"),
    ("/flot/0.8.3/jquery.flot.selection.min.js", "flot@0.8.3", "jquery.flot.selection.js"),
    ("/flot/0.8.3/jquery.flot.categories.min.js", "flot@0.8.3", "jquery.flot.categories.js"),
    ("/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js", "flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    ("/stupidtable/1.0.1/stupidtable.min.js", "stupid-table-plugin@1.1.3", "stupidtable.min.js"),
    ("/blueimp-md5/2.19.0/js/md5.min.js", "blueimp-md5@2.19.0", "js/md5.min.js"),
    ("/bootstrap@3.1.1/dist/js/bootstrap.min.js", "bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    ("/bootstrap@3.1.1/dist/css/bootstrap.min.css", "bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
)
TAG_RE = re.compile(r'<(?P<tag>script|link)\b[^>]*?\b(?:src|href)="(?P<url>https?://[^"]+)"[^>]*>')
VENDOR = "vendor"


@dataclass
class Localized:
    replaced: int
    unknown: list[str]
    reason: str = ""  # why nothing was replaced (npm missing or failing)


def asset_dir(cache: Path) -> Path:
    return cache / "asv-www"


def asset_path(cache: Path, package: str, file: str) -> Path:
    return asset_dir(cache) / "node_modules" / package.rsplit("@", 1)[0] / file


def ensure_assets(cache: Path) -> str | None:
    """Install the libraries with npm once; None when they are all there, else why not."""
    if all(asset_path(cache, pkg, f).is_file() for _, pkg, f in ASSETS):
        return None
    if shutil.which("npm") is None:
        return "npm not on PATH"
    specs = sorted({pkg for _, pkg, _ in ASSETS})
    install = ["npm", "install", "--prefix", asset_dir(cache), "--no-audit", "--no-fund", "--no-save", *specs]
    try:
        run_measured([*install, "--offline"], log_path=asset_dir(cache) / "npm-install-offline.log",
                     limits=Limits(timeout_s=120))
    except ChildFailed:  # npm's cache lacks one (ENOTCACHED): from the registry
        try:
            run_measured(install, log_path=asset_dir(cache) / "npm-install.log", limits=Limits(timeout_s=600))
        except ChildFailed as exc:
            return f"npm install failed: {exc.reason} (log: {asset_dir(cache) / 'npm-install.log'})"
    missing = [f"{pkg}/{f}" for _, pkg, f in ASSETS if not asset_path(cache, pkg, f).is_file()]
    return f"npm installed no {', '.join(missing)}" if missing else None


def local_name(package: str, file: str) -> str:
    return f"{package.rsplit('@', 1)[0]}-{Path(file).name}"


def local_tag(tag: str, href: str) -> str:
    if tag == "link":
        return f'<link rel="stylesheet" href="{href}">'
    return f'<script src="{href}" onerror="js_load_failure()">'


def localize(site: Path, cache: Path) -> Localized:
    """Rewrite `site/index.html` (asv's) to load its libraries from `site/vendor/`."""
    index = site / "index.html"
    html = index.read_text(encoding="utf-8")
    urls = [m["url"] for m in TAG_RE.finditer(html)]
    if not urls:
        return Localized(0, [])
    why = ensure_assets(cache)
    if why:
        return Localized(0, urls, why)
    (site / VENDOR).mkdir(exist_ok=True)
    unknown: list[str] = []

    def swap(m: re.Match) -> str:
        for tail, pkg, file in ASSETS:
            if m["url"].endswith(tail):
                shutil.copyfile(asset_path(cache, pkg, file), site / VENDOR / local_name(pkg, file))
                return local_tag(m["tag"], f"{VENDOR}/{local_name(pkg, file)}")
        unknown.append(m["url"])
        return m[0]

    html = TAG_RE.sub(swap, html)
    index.write_text(html, encoding="utf-8")
    return Localized(len(urls) - len(unknown), unknown)
