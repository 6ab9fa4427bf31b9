"""The verdicts on each framework's history, as rows a person (or a scheduler, or a chat channel) can read.

The rows come from the verdict engine (tracker.report.verdict) over the tracker's own records, never from
the published site, so a half-written or missing site cannot change what is reported. Five lists:
regressions (a deterministic metric that got worse, or a timing or memory regression confirmed by
re-measuring), candidates (timing and memory steps not yet re-measured), too early to tell (steps at the
newest commit or near an end of the series: moved by the minimum effect, but too few samples for any test),
not confirmed (steps that vanished when re-measured: noise) and changes (deterministic metrics that got
better). Only regressions are alerted.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tracker.config import Config
from tracker.layout import Layout
from tracker.report.machines import machine_change
from tracker.store.formats import REPORT_VERSION
from tracker.store.state import StateRead
from tracker.types import Framework

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
    range_start: str | None # when the commits in between were not measured: "somewhere after this commit"
    label: str
    before: float
    after: float
    link: str
    verdict: str = "changed"        # changed (deterministic), confirmed, candidate, not_confirmed
    kind: str = "deterministic"     # or measured
    evidence: dict = field(default_factory=dict, compare=False, hash=False)
    explained: tuple[str, ...] = ()  # what the framework chose differently at this commit: "logrows 15 -> 16"
    note: str = ""  # too early to tell, too few samples, wall and CPU time disagreeing, placed at a neighbour

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("inf")

    @property
    def commits(self) -> str:
        if self.range_start:
            return f"{self.range_start[:8]}..{self.first_bad[:8]}"
        return self.first_bad[:8]

    @property
    def evidence_text(self) -> str:
        """What the verdict rests on, in one line: exact, or p-value, interval and rounds."""
        e = self.evidence
        if self.kind != "measured" or not e:
            return "exact" if self.kind == "deterministic" else ""
        low, high = e.get("interval", [float("nan")] * 2)
        text = f"p={e['p_value']:.2g}, 95% {low:.2f}-{high:.2f}x, n={e['samples'][0]}+{e['samples'][1]}"
        text += f", {e['rounds']} rounds" if e.get("rounds") else ""
        text += f"; CPU time {e['cpu_ratio']:.2f}x" if e.get("cpu_ratio") is not None else ""
        text += f"; {', '.join(self.explained)} at this commit" if self.explained else ""
        return text + (f"; {self.note}" if self.note else "")

    def to_json(self) -> dict:
        return {**asdict(self), "explained": list(self.explained), "ratio": self.ratio, "commits": self.commits}


@dataclass
class Verdicts:
    regressions: list[Regression] = field(default_factory=list)
    candidates: list[Regression] = field(default_factory=list)
    too_early: list[Regression] = field(default_factory=list)  # moved, but too few samples to tell yet
    not_confirmed: list[Regression] = field(default_factory=list)
    changes: list[Regression] = field(default_factory=list)
    machine_changed: list[Regression] = field(default_factory=list)  # timing steps between two hosts
    unreadable: list[str] = field(default_factory=list)  # evidence that could not be read: no verdict on it

    def to_json(self) -> dict:
        return {"version": REPORT_VERSION, **{name: [r.to_json() for r in getattr(self, name)] for name in
                                              ("regressions", "candidates", "too_early", "not_confirmed", "changes",
                                               "machine_changed")},
                "unreadable": list(self.unreadable)}


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


def all_changes(config: Config, layout: Layout, frameworks=None, settings=None,
                state: StateRead | None = None) -> list:
    """Every change (tracker.report.change.Change) in the records of the frameworks asked for, the state
    files checked as they are read (`state` says what it found, and keeps what it could not read)."""
    from tracker.report.confirm import read_confirmations
    from tracker.report.change import load_settings
    from tracker.report.verdict import framework_changes

    settings = settings or load_settings(config.root / "asv.conf.json")
    state = state or StateRead(layout)
    out = []
    for fw in config.frameworks:
        if frameworks and fw.name not in frameworks:
            continue
        order = state.order(fw)
        if order is None:
            continue
        torn: list[Path] = []
        out += framework_changes(fw.name, layout.results / fw.name, settings,
                                 read_confirmations(layout, fw.name, settings, state), order, torn)
        state.records_unreadable(fw, torn)
    return out


def find_verdicts(config: Config, layout: Layout, frameworks=None, settings=None,
                  state: StateRead | None = None) -> Verdicts:
    """Every framework's changes, sorted into the four lists, from the records and the confirmations."""
    state = state or StateRead(layout)
    out = Verdicts()
    for change in all_changes(config, layout, frameworks, settings, state):
        fw = config.framework(change.framework)
        hosts = machine_change(layout, change)
        if hosts:  # never a regression, whatever its size: see tracker/report/machines.py
            change.status = "machine_changed"
        row = row_of(change, fw, state.revisions(fw), layout)
        if hosts:
            row.evidence["machines"] = hosts
        _file(out, change, row)
    out.unreadable = list(state.unreadable)
    return out


def _file(out: Verdicts, change, row: Regression) -> None:
    if not change.metric.measured:
        (out.regressions if change.worse else out.changes).append(row)
    elif change.worse:
        {"confirmed": out.regressions, "candidate": out.candidates, "too_early": out.too_early,
         "not_confirmed": out.not_confirmed, "machine_changed": out.machine_changed}[change.status].append(row)


def find_regressions(config: Config, layout: Layout, frameworks=None) -> list[Regression]:
    """What is alerted: deterministic metrics that got worse, and confirmed timing or memory regressions."""
    return find_verdicts(config, layout, frameworks).regressions


def row_of(change, fw: Framework, known: dict, layout: Layout) -> Regression:
    good, bad = change.good.sha, change.bad.sha
    if change.comparison is not None:
        before, after = change.comparison.before, change.comparison.after
        evidence = change.comparison.to_json()
        if change.confirmation:  # the re-measured figures are the ones that count
            before, after = change.confirmation["before"], change.confirmation["after"]
            evidence = change.confirmation
    else:
        before, after, evidence = change.good.values[0], change.bad.values[0], {}
    if change.cpu_ratio is not None:
        evidence = {**evidence, "cpu_ratio": change.cpu_ratio}
    info = known.get(bad, {})
    skipped = _unmeasured_between(layout, fw, good, bad)
    return Regression(fw.name, change.model, change.variant, change.metric.name, change.metric.unit, bad,
                      None if skipped else good, good if skipped else None, info.get("label", bad[:8]),
                      before, after, commit_link(fw, bad, info), change.status, change.metric.kind, evidence,
                      tuple(change.explained), note_of(change, known))


def note_of(change, known: dict) -> str:
    """Everything a reader must know of a measured step besides its figures, in one line."""
    judged = change.confirmation or {}
    notes = [change.note] if change.note and change.status == "too_early" and judged.get("verdict") != "too_few" else []
    if judged.get("verdict") == "too_few":
        per_round = judged["samples"][0] / judged["rounds"] if judged.get("rounds") else 1
        notes.append(f"too few samples (needs n >= {judged['needs']} for p < {judged['alpha']:g}): "
                     f"{math.ceil(judged['needs'] / max(per_round, 1e-9))} rounds would settle it")
    why = judged.get("disagreement") or change.disagreement
    if why:
        notes.append(why)
    if judged.get("contradicts"):
        notes.append(judged["contradicts"])
    if change.from_cpu:
        notes.append("looked for where the stage's CPU time stepped")
    if change.moved_from:
        first = change.moved_from.split("|")[3]
        notes.append(f"first placed at {known.get(first, {}).get('label', first[:8])}, not confirmed there; "
                     "confirmed at this neighbouring pair")
    return "; ".join(notes)


def _unmeasured_between(layout: Layout, fw: Framework, good: str, bad: str) -> bool:
    """Whether commits that were never measured lie between `good` and `bad` (then the change is a range)."""
    from tracker.history.git import GitError, first_parent
    from tracker.history.source import mirror_path

    mirror = mirror_path(fw, layout.cache)
    if fw.history.kind != "commits" or not mirror.exists():
        return False
    try:
        return len(first_parent(mirror, f"{good}..{bad}")) > 1
    except GitError:
        return False


def _parse_entry(name: str) -> tuple[str, str, str] | None:
    m = ENTRY_RE.match(name)
    if not m:
        return None
    params = ast.literal_eval(m["params"][:-1] + ",)") if m["params"] else ()
    model = params[0] if len(params) > 0 else ""
    variant = params[1] if len(params) > 1 else ""
    return m["metric"], model, variant


def format_table(rows: list[Regression], empty: str = "no regressions") -> str:
    if not rows:
        return empty
    head = ("framework", "model", "variant", "metric", "commit", "label", "before -> after", "ratio", "evidence",
            "link")
    body = [(r.framework, r.model, r.variant, r.metric, r.commits, r.label,
             f"{_number(r.before)} -> {_number(r.after)} {r.unit}", f"{r.ratio:.2f}x", r.evidence_text, r.link) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in (head, *body)]
    return "\n".join(lines)


def format_report(v: Verdicts) -> str:
    """The regressions, then the lists that are not alerted, each under its own heading. With evidence
    that could not be read, never a bare "no regressions"."""
    none = f"no regressions in what could be read; {len(v.unreadable)} file(s) could not be read (said above)" \
        if v.unreadable else "no regressions"
    parts = [format_table(v.regressions, none)]
    for rows, heading in ((v.candidates, "candidates, not yet re-measured (`zkml-tracker regressions --confirm`)"),
                          (v.too_early, "too early to tell: moved, but too few samples yet (`regressions --confirm` "
                                        "re-measures them against their parent)"),
                          (v.not_confirmed, "not confirmed (noise): gone when re-measured interleaved, not alerted"),
                          (v.machine_changed, "machine changed: steps between two hosts under one machine name, "
                                              "not regressions (`--confirm` re-measures both on one)"),
                          (v.changes, "other changes (better)")):
        if rows:
            parts.append(f"\n{heading}:\n{format_table(rows)}")
    return "\n".join(parts)


def slack_payload(rows: list[Regression]) -> dict:
    """A Slack-compatible message: a text summary, one line per regression."""
    lines = [f"zkml-tracker: {len(rows)} regression(s)"]
    lines += [f"- {r.framework} {r.model} [{r.variant}] {r.metric}: {_number(r.before)} -> {_number(r.after)} {r.unit} "
              f"({r.ratio:.2f}x) at {r.label} [{r.evidence_text}] {r.link}".rstrip() for r in rows]
    return {"text": "\n".join(lines)}


def post_webhook(url: str, rows: list[Regression], timeout_s: float = 10.0) -> str | None:
    """Post the report; None if delivered, else why not. The URL is a secret: it is never in the message.

    `timeout_s` is the total deadline of the whole exchange (tracker/report/webhook.py)."""
    from tracker.report.webhook import post_json

    return post_json(url, slack_payload(rows), deadline_s=timeout_s)


def key(r: Regression) -> tuple:
    return (r.framework, r.model, r.variant, r.metric, r.first_bad)


def _number(value: float) -> str:
    """Whole numbers (bytes, constraints, rows) in full, so a one-byte change shows; others to 4 figures."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"
