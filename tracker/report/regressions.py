"""The regressions asv found, per framework, as rows a person (or a scheduler, or a chat channel) can read.

asv's publish step writes `regressions.json` (one entry per benchmark and parameter set, each with the
jumps it detected as revision numbers) and `index.json` (revision number -> commit). This module joins
them with the tracker's own revision labels into `Regression` rows, and can post them to a webhook.
"""
from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from tracker.config import Config, Framework
from tracker.fsutil import read_json
from tracker.metrics import BY_NAME
from tracker.run.asv import Layout

ENTRY_RE = re.compile(r"^benchmarks\.\w+\.track_(?P<metric>\w+)(?P<params>\(.*\))?$")


@dataclass(frozen=True)
class Regression:
    framework: str
    model: str
    variant: str
    metric: str
    unit: str
    first_bad: str          # the commit where the value changed (or the last of a range)
    last_good: str | None   # the commit before it, when the change is pinned to one commit
    range_start: str | None # when asv can only say "somewhere after this commit"
    label: str
    before: float
    after: float
    link: str

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("inf")

    @property
    def commits(self) -> str:
        if self.range_start:
            return f"{self.range_start[:8]}..{self.first_bad[:8]}"
        return self.first_bad[:8]

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "commits": self.commits}


def commit_link(fw: Framework, sha: str, info: dict) -> str:
    """A link a person can follow: the upstream commit where known, else the release's registry page."""
    upstream = info.get("upstream_sha") or (sha if fw.history.kind == "commits" else None)
    if upstream and fw.repo and fw.repo.startswith("https://github.com/"):
        return f"{fw.repo.rstrip('/')}/commit/{upstream}"
    pkg = fw.history.package
    if pkg and info.get("version"):
        if pkg.registry == "pypi":
            return f"https://pypi.org/project/{pkg.name}/{info['version']}/"
        return f"https://www.npmjs.com/package/{pkg.name}/v/{info['version']}"
    return ""


def find_regressions(config: Config, layout: Layout, frameworks=None) -> list[Regression]:
    rows: list[Regression] = []
    for fw in config.frameworks:
        if frameworks and fw.name not in frameworks:
            continue
        rows.extend(framework_regressions(fw, layout))
    return rows


def framework_regressions(fw: Framework, layout: Layout) -> list[Regression]:
    site = layout.html / fw.name
    found = read_json(site / "regressions.json") or {}
    index = read_json(site / "index.json") or {}
    rev_to_hash = index.get("revision_to_hash", {})
    known = (read_json(layout.results / fw.name / "revisions.json") or {}).get("revisions", {})
    rows = []
    for entry in found.get("regressions", []):
        name, _graph, _graph_params, _j, _last, _best, jumps = entry
        parsed = _parse_entry(name)
        if parsed is None:
            continue
        metric, model, variant = parsed
        for rev_a, rev_b, before, after in jumps:
            bad = rev_to_hash.get(str(rev_b), "")
            start = rev_to_hash.get(str(rev_a)) if rev_a is not None else None
            good = rev_to_hash.get(str(rev_b - 1)) if rev_a is None else None
            info = known.get(bad, {})
            rows.append(Regression(fw.name, model, variant, metric, BY_NAME[metric].unit if metric in BY_NAME else "",
                                   bad, good, start, info.get("label", bad[:8]), before, after,
                                   commit_link(fw, bad, info)))
    return rows


def _parse_entry(name: str) -> tuple[str, str, str] | None:
    m = ENTRY_RE.match(name)
    if not m:
        return None
    params = ast.literal_eval(m["params"][:-1] + ",)") if m["params"] else ()
    model = params[0] if len(params) > 0 else ""
    variant = params[1] if len(params) > 1 else ""
    return m["metric"], model, variant


def format_table(rows: list[Regression]) -> str:
    if not rows:
        return "no regressions"
    head = ("framework", "model", "variant", "metric", "commit", "label", "before -> after", "ratio", "link")
    body = [(r.framework, r.model, r.variant, r.metric, r.commits, r.label,
             f"{r.before:.4g} -> {r.after:.4g} {r.unit}", f"{r.ratio:.2f}x", r.link) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in (head, *body)]
    return "\n".join(lines)


def slack_payload(rows: list[Regression]) -> dict:
    """A Slack-compatible message: a text summary, one line per regression."""
    lines = [f"zkml-tracker: {len(rows)} regression(s)"]
    lines += [f"- {r.framework} {r.model} [{r.variant}] {r.metric}: {r.before:.4g} -> {r.after:.4g} {r.unit} "
              f"({r.ratio:.2f}x) at {r.label} {r.link}".rstrip() for r in rows]
    return {"text": "\n".join(lines)}


def post_webhook(url: str, rows: list[Regression], timeout_s: float = 10.0) -> str | None:
    """Post the report; None if delivered, else why not. The URL is a secret: it is never in the message.

    `timeout_s` is the total deadline of the whole exchange (tracker/report/webhook.py)."""
    from tracker.report.webhook import post_json

    return post_json(url, slack_payload(rows), deadline_s=timeout_s)


def previously_reported(path: Path) -> set[tuple]:
    data = read_json(path) or {}
    return {tuple(x) for x in data.get("keys", [])}


def key(r: Regression) -> tuple:
    return (r.framework, r.model, r.variant, r.metric, r.first_bad)
