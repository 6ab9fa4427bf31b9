"""The static site: the comparison page rendered from hand-made records, then a real published site in Chromium.

The unit tests write the files a run leaves behind (records, revisions, status, build failures, asv's
index and regressions) and read the rendered page back with an HTML parser. The browser test publishes
a real site through the `zkml-tracker run` CLI on the synthetic framework, serves it on localhost and
loads it in headless Chromium: the comparison table, an asv graph page drawing its plot offline, and a
`<script>` commit message that must show as text.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
import textwrap
import threading
from html.parser import HTMLParser
from pathlib import Path

import asv
import pytest

from tests.conftest import ROOT
from tests.synthetic import Step, config_text, make_repo
from tracker import records
from tracker.cli import main
from tracker.commands.preview import make_server
from tracker.adapters import load_config
from tracker.fsutil import atomic_write_json, read_json
from tracker.layout import Layout
from tracker.metrics import BY_NAME
from tracker.publish.differences import format_modmuls
from tracker.publish.charts import PLOT_W, Item, log_bar_chart
from tracker.publish.offline import ASSETS, asset_path, localize
from tracker.publish.site import asv_graph_url, write_site
from tracker.publish.units import format_value
from tracker.records import ModelResult, StageResult
from tracker.store.paths import FrameworkStore

OLD, NEW = "a" * 40, "b" * 40
XSS_SUBJECT = "<script>alert(1)</script> speed up"
XSS_REASON = "<script>alert('reason')</script> registry down"


class Page(HTMLParser):
    """What a reader sees in the comparison tables, keyed by (framework, model, variant[, metric])."""

    def __init__(self, html: str):
        super().__init__()
        self.cells: dict[tuple, dict] = {}
        self.failed: dict[tuple, str] = {}
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._model = self._row = self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "table" and "data-model" in a:
            self._model = a["data-model"]
        elif tag == "tr" and "data-framework" in a and self._model:
            self._row = (a["data-framework"], self._model, a["data-variant"])
        elif tag == "td" and self._row and ("data-metric" in a or a.get("class") == "failed"):
            key = self._row + ((a["data-metric"],) if "data-metric" in a else ())
            self._cell = {"key": key, "text": "", "href": "", "title": a.get("title", "")}
        elif tag == "a":
            self.links.append(a.get("href", ""))
            if self._cell is not None:
                self._cell["href"] = a.get("href", "")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            cell, self._cell = self._cell, None
            if len(cell["key"]) == 4:
                self.cells[cell["key"]] = cell
            else:
                self.failed[cell["key"]] = cell["text"]
        elif tag == "table":
            self._model = self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data

    def cell(self, fw, model, variant, metric) -> dict:
        return self.cells[(fw, model, variant, metric)]

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


# --- the files a run leaves behind ---------------------------------------------------------------------

CONFIG = textwrap.dedent("""\
    version: 1
    frameworks:
      - name: halo
        adapter: command
        proof_system: Halo2 (KZG)
        setup: universal
        model_format: ONNX
        repo: https://github.com/example/halo
        history: {kind: commits, branch: main}
        build: {kind: none}
        variants: [{name: resources}, {name: accuracy}]
        pros: ["ONNX in"]
        cons: ["large <keys>"]
      - name: gone
        adapter: command
        proof_system: Plonk
        model_format: ONNX
        history: {kind: releases, package: {registry: pypi, name: gone}}
        build: {kind: none}
      - name: nope
        adapter: command
        proof_system: STARK (Cairo)
        setup: transparent
        model_format: ONNX
        history: {kind: commits, branch: main}
        repo: https://github.com/example/nope
        build: {kind: none}
      - name: broke
        adapter: command
        proof_system: Groth16
        setup: trusted
        model_format: circom
        history: {kind: commits, branch: main}
        repo: https://github.com/example/broke
        build: {kind: none}
    """)


def ok_result(sha: str, model: str, variant: str, prove: list[float]) -> ModelResult:
    r = ModelResult("halo", sha, model, variant, settings={"calibration_target": variant, "used_logrows": 15,
                                                            "used_input_scale": 7, "used_check_mode": "SAFE"},
                    machine={"host": "box", "cpu": "x86_64", "cores": "2"})
    r.add(StageResult("setup", samples_s=[1.5], peak_rss_bytes=200_000_000))
    r.add(StageResult("prove", samples_s=prove, peak_rss_bytes=350_000_000))
    r.add(StageResult("verify", samples_s=[0.08], peak_rss_bytes=90_000_000))
    r.sizes.update(proof_bytes=19_234, vk_bytes=1_500, pk_bytes=138_000_000)
    r.circuit.update(logrows=15, constraints=43_210)
    r.accuracy.update(max_abs_error=0.0123, top1_agreement=0.96)
    return r


def oom_result(sha: str) -> ModelResult:
    r = ModelResult("halo", sha, "mlp", "accuracy", settings={"calibration_target": "accuracy"})
    r.add(StageResult("setup", samples_s=[1.0]))
    r.add(StageResult("prove", status="out_of_memory", reason="peak RSS over the cap", limit="120 MiB"))
    return r


def write_results(layout: Layout) -> None:
    halo = layout.results / "halo"
    older = ok_result(OLD, "mlp", "resources", [9.0])
    older.sizes["proof_bytes"] = 9_617  # the proof doubled at NEW: a deterministic regression, at its commit
    for rec in (older, ok_result(OLD, "cnn", "resources", [0.0123]),
                ok_result(NEW, "mlp", "resources", [2.7, 2.8, 3.1]), oom_result(NEW)):
        records.save(FrameworkStore(layout, "halo").records, rec)
    atomic_write_json(halo / "revisions.json", {"version": 1, "revisions": {
        OLD: {"label": OLD[:8], "date": "2024-01-01T00:00:00+00:00", "subject": "first"},
        NEW: {"label": NEW[:8], "date": "2024-02-01T00:00:00+00:00", "subject": XSS_SUBJECT}}})
    atomic_write_json(halo / "status.json", {"status": "ok", "reason": "", "revisions": []})
    atomic_write_json(FrameworkStore(layout, "halo").asv / "ci-box" / f"{NEW[:8]}-existing-py.json", {})
    atomic_write_json(layout.html / "halo" / "index.json", {"revision_to_hash": {"1": OLD, "2": NEW}})
    # what asv publish wrote: the report reads the records, never this
    atomic_write_json(layout.html / "halo" / "regressions.json", {"regressions": [[
        "benchmarks.ProveTime.track_prove_time('mlp', 'resources')", "graphs/x.json", {}, 0, 2.8, 1.2,
        [[None, 2, 1.2, 2.8]]]]})
    atomic_write_json(layout.results / "gone" / "status.json", {"status": "unavailable", "reason": XSS_REASON})
    atomic_write_json(layout.results / "nope" / "status.json",
                      {"status": "unsupported", "reason": "not yet supported: no adapter written yet"})
    atomic_write_json(layout.results / "broke" / "status.json", {"status": "ok", "revisions": [
        {"sha": "c" * 40, "label": "cccccccc", "status": "build_failed", "reason": "cargo: <error> in build.rs"}]})
    atomic_write_json(FrameworkStore(layout, "broke").builds / f"{'c' * 40}.json",
                      {"status": "build_failed", "label": "cccccccc", "reason": "cargo: <error> in build.rs"})


@pytest.fixture
def page(tmp_path) -> tuple[str, Page]:
    (tmp_path / "frameworks.yaml").write_text(CONFIG)
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    write_results(layout)
    html = write_site(load_config(tmp_path / "frameworks.yaml"), layout).read_text()
    return html, Page(html)


# --- unit tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, unit, text", [
    (0.08, "seconds", "80 ms"), (2.8, "seconds", "2.8 s"), (0.0123, "seconds", "12.3 ms"),
    (0.000412, "seconds", "412 µs"), (1103, "seconds", "18.4 min"), (805, "bytes", "805 B"),
    (19_234, "bytes", "19.2 KB"), (138e6, "bytes", "138 MB"), (2.5e9, "bytes", "2.5 GB"),
    (0.04, "fraction", "4 %"), (43_210, "constraints", "43,210"), (15, "log2 rows", "15"),
    (0.0123, "abs error", "0.0123"), (None, "seconds", "–"),
])
def test_values_read_in_human_units(value, unit, text):
    assert format_value(value, unit) == text


def test_asv_link_is_spelled_as_asv_spells_its_own():
    # asv's format_hash_string: encodeURIComponent of each value; param values are the repr asv stores
    url = asv_graph_url("ezkl", BY_NAME["prove_time"], "mlp", "my variant", commits="abc-def")
    assert url == ("ezkl/index.html#benchmarks.ProveTime.track_prove_time"
                   "?p-model='mlp'&p-variant='my%20variant'&commits=abc-def")


def test_log_chart_gives_each_decade_the_same_length():
    chart = log_bar_chart("t", "seconds", [Item("a", 0.1, "#000"), Item("b", 1.0, "#000"), Item("c", 10.0, "#000")])
    widths = [b.width for b in chart.bars]
    assert math.isclose(widths[2] - widths[1], widths[1] - widths[0]) and math.isclose(widths[2], PLOT_W)
    assert [t.label for t in chart.ticks] == ["10 ms", "100 ms", "1 s", "10 s"]
    assert [b.text for b in chart.bars] == ["100 ms", "1 s", "10 s"]
    assert log_bar_chart("t", "seconds", [Item("a", 0, "#000")]) is None


def test_table_has_the_latest_figures_with_units_and_links(page):
    _html, p = page
    cell = p.cell("halo", "mlp", "resources", "prove_time")
    assert cell["text"] == "2.8 s"  # the newer revision's median, not the older 9 s
    assert "median of 3, 2.7 s to 3.1 s" in cell["title"]
    assert cell["href"] == "halo/index.html#benchmarks.ProveTime.track_prove_time?p-model='mlp'&p-variant='resources'"
    expected = {"setup_time": "1.5 s", "verify_time": "80 ms", "prove_peak_memory": "350 MB",
                "proof_size": "19.2 KB", "vk_size": "1.5 KB", "pk_size": "138 MB", "circuit_logrows": "15",
                "circuit_constraints": "43,210", "accuracy_max_abs_error": "0.0123", "accuracy_loss": "4 %"}
    assert {m: p.cell("halo", "mlp", "resources", m)["text"] for m in expected} == expected
    # a model run only at the older revision shows that revision's figures
    assert p.cell("halo", "cnn", "resources", "prove_time")["text"] == "12.3 ms"


def test_rows_say_revision_machine_and_settings_used(page):
    html, p = page
    assert f"https://github.com/example/halo/commit/{NEW}" in p.links
    assert f"https://github.com/example/halo/commit/{OLD}" in p.links  # the cnn row's revision
    assert "ci-box" in p.all_text  # the asv machine the figures were filed under
    assert "used_logrows=15" in p.all_text and "used_input_scale=7" in p.all_text
    # the settings variants are compared on come first; the rest fold away under them
    assert re.search(r"calibration_target=resources used_logrows=15 used_input_scale=7\s*<details>"
                     r"<summary>1 more</summary>used_check_mode=SAFE</details>", html)


def test_failures_and_frameworks_that_could_not_run_say_why(page):
    _html, p = page
    assert p.failed[("halo", "mlp", "accuracy")] == \
        "out of memory: prove: peak RSS over the cap (limit: 120 MiB)"
    # what was measured before the prover ran out of memory stays beside the failure
    assert p.cell("halo", "mlp", "accuracy", "setup_time")["text"] == format_value(1.0, "seconds")
    assert p.cell("halo", "mlp", "accuracy", "prove_time")["text"] == format_value(None, "seconds")
    assert p.failed[("nope", "mlp", "")].startswith("unsupported: not yet supported")
    assert p.failed[("gone", "mlp", "")] == f"unavailable: {XSS_REASON}"
    assert p.failed[("broke", "mlp", "")] == "build failed: cargo: <error> in build.rs"
    assert "Halo2 (KZG)" in p.all_text and "transparent" in p.all_text and "large <keys>" in p.all_text


def test_regressions_panel_links_commit_and_graph(page):
    _html, p = page
    assert "9.62 KB → 19.2 KB" in p.all_text and "2.00×" in p.all_text
    assert "1.2 s → 2.8 s" not in p.all_text  # asv's regressions.json is not what the report reads
    assert (f"halo/index.html#benchmarks.ProofSize.track_proof_size?p-model='mlp'&p-variant='resources'"
            f"&commits={NEW[:8]}") in p.links


def test_charts_are_inline_svg_with_labels(page):
    html, p = page
    assert p.tags.count("svg") == 4  # prove time and peak memory for mlp and cnn
    assert "halo [resources]" in p.all_text and "350 MB" in p.all_text
    assert "http" not in "".join(t for t in p.tags if t == "script")
    assert 'xmlns="http://www.w3.org/2000/svg"' in html


def test_outside_text_is_escaped(page):
    html, p = page
    assert p.tags.count("script") == 1 and "keys" not in p.tags and "error" not in p.tags  # the page's own
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; speed up" in html
    assert "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;" in html
    assert XSS_SUBJECT in p.all_text  # shown as text


def test_a_site_with_nothing_run_yet(tmp_path):
    (tmp_path / "frameworks.yaml").write_text(CONFIG)
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    p = Page(write_site(load_config(tmp_path / "frameworks.yaml"), layout).read_text())
    assert "No figures yet" in p.all_text and "none published yet" in p.all_text
    assert "not run" in p.all_text and "No regressions in the recorded histories" in p.all_text


def test_a_publish_opens_no_connection(tmp_path):
    """A framework never run whose history is a remote URL: a run would dial it, a publish must not (what
    can run here is the run's to find and status.json's to say); the listener is left with no connection."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/example/halo"
        (tmp_path / "frameworks.yaml").write_text(CONFIG.replace("https://github.com/example/halo", url))
        layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
        p = Page(write_site(load_config(tmp_path / "frameworks.yaml"), layout).read_text())
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert "not run" in p.all_text


def test_asv_page_is_made_to_load_its_libraries_from_the_site(tmp_path):
    """asv's own index.html, as asv publish copies it: every CDN tag is pointed into vendor/."""
    site, cache = tmp_path / "site", tmp_path / "cache"
    site.mkdir()
    shutil.copyfile(Path(asv.__file__).parent / "www" / "index.html", site / "index.html")
    for _tail, package, file in ASSETS:  # as npm leaves them; the browser test installs the real ones
        asset_path(cache, package, file).parent.mkdir(parents=True, exist_ok=True)
        asset_path(cache, package, file).write_text(f"/* {package} {file} */")
    done = localize(site, cache)
    assert (done.replaced, done.unknown, done.reason) == (len(ASSETS), [], "")
    html = (site / "index.html").read_text()
    assert not re.search(r'<(script|link)\b[^>]*(src|href)="https?:', html)
    assert 'src="vendor/jquery-jquery.min.js"' in html and (site / "vendor" / "jquery-jquery.min.js").is_file()



def test_a_fresh_cache_takes_the_libraries_from_npms_own_cache(tmp_path):
    """A fresh tracker cache takes asv's libraries from npm's cache (`npm install --offline`, which never asks
    the registry); the install that asks it is for when npm's cache lacks one."""
    from tracker.publish.offline import ensure_assets

    assert ensure_assets(tmp_path / "first") is None  # npm's cache holds them from here on
    assert ensure_assets(tmp_path / "second") is None
    assert all(asset_path(tmp_path / "second", package, file).is_file() for _, package, file in ASSETS)
    www = tmp_path / "second" / "asv-www"
    assert (www / "npm-install-offline.log").is_file() and not (www / "npm-install.log").exists()

# --- a real site in a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")


def chromium(tmp: Path, url: str, *flags: str) -> str:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    done = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", *flags, url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


UNAVAILABLE = """\
  - name: needs-tool
    adapter: command
    proof_system: STARK (Cairo)
    model_format: ONNX
    history: {kind: releases, package: {registry: npm, name: needs-tool}}
    build: {kind: none, toolchains: [no-such-toolchain-here]}
"""


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A real published site: the synthetic framework's four commits through `zkml-tracker run`, served."""
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.05), Step(delay=0.05), Step(delay=0.3, proof_bytes=2000),
                     Step(delay=0.3, proof_bytes=2000, subject=XSS_SUBJECT)])
    root = tmp_path / "site"
    root.mkdir()
    (root / "frameworks.yaml").write_text(config_text(repo) + UNAVAILABLE)
    (root / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    assert main(["--config", str(root / "frameworks.yaml"), "--cache", str(tmp_path / "cache"), "run",
                 "-m", "linear", "--repeats", "1"]) == 0
    server = make_server(root / "html")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (the CI script installs Debian's)")
def test_published_site_in_a_browser(served, tmp_path):
    root, base = served
    dom = chromium(tmp_path, base + "index.html", "--dump-dom")
    p = Page(dom)
    known = read_json(root / "results" / "synth" / "revisions.json")["revisions"]
    latest = max(known, key=lambda sha: known[sha]["date"])
    rec = records.load(root / "results" / "synth" / "records" / latest / "linear--default.json")
    prove = p.cell("synth", "linear", "default", "prove_time")
    assert prove["text"] == format_value(rec.stages["prove"].samples_s[0], "seconds")
    assert p.cell("synth", "linear", "default", "proof_size")["text"] == "2 KB"
    assert p.failed[("needs-tool", "linear", "")] == \
        "unavailable: missing toolchain(s) for the build: no-such-toolchain-here (not on PATH)"
    # the <script> commit message is text in the page, never an element
    assert XSS_SUBJECT in p.all_text and p.tags.count("script") == 1  # the page's own toggle, nothing else
    assert "regressions" in dom and "1 KB → 2 KB" in p.all_text

    # the table's link opens asv's graph of that metric, which draws offline (libraries served from the site)
    graph = chromium(tmp_path, base + prove["href"], "--virtual-time-budget=10000", "--dump-dom")
    assert 'class="flot-base"' in graph and "flot-tick-label" in graph  # flot drew the plot and its axes
    assert ">benchmarks.ProveTime.track_prove_time<" in graph
    assert "Can not determine continental origin of swallow" not in graph

    shot = tmp_path / "index.png"
    chromium(tmp_path, base + "index.html", "--window-size=1300,1000", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000


TWO = textwrap.dedent("""\
    version: 1
    frameworks:
      - name: halo
        adapter: command
        proof_system: Halo2 (KZG)
        model_format: ONNX
        history: {kind: commits, branch: main}
        repo: https://github.com/example/halo
        build: {kind: none}
      - name: groth
        adapter: command
        proof_system: Groth16
        model_format: circom
        history: {kind: commits, branch: main}
        repo: https://github.com/example/groth
        build: {kind: none}
      - name: gone
        adapter: command
        proof_system: Plonk
        model_format: ONNX
        history: {kind: releases, package: {registry: pypi, name: gone}}
        build: {kind: none}
    """)
CALIBRATED = {"key": "k", "mmops": {"bn254_fr": {"per_cpu_second": {"median": 40.0, "spread": 0.05, "n": 5}}}}


def two_frameworks(tmp_path) -> tuple[str, Layout]:
    (tmp_path / "frameworks.yaml").write_text(TWO)
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    halo = ok_result(NEW, "mlp", "default", [2.7, 2.8, 3.1])
    halo.stages["prove"].cpu_s = [2.5, 2.5, 2.6]
    halo.calibration = CALIBRATED
    groth = ok_result(NEW, "mlp", "default", [0.9])
    groth.framework = "groth"
    groth.stages["prove"].peak_rss_bytes = 100_000_000
    groth.sizes.update(proof_bytes=256, vk_bytes=3_000)
    groth.accuracy.update(top1_agreement=1.0)
    for rec in (halo, groth):
        records.save(FrameworkStore(layout, rec.framework).records, rec)
        atomic_write_json(layout.results / rec.framework / "revisions.json", {"version": 1, "revisions": {
            NEW: {"label": NEW[:8], "date": "2024-02-01T00:00:00+00:00", "subject": "s"}}})
        atomic_write_json(layout.results / rec.framework / "status.json", {"status": "ok", "revisions": []})
    atomic_write_json(layout.results / "gone" / "status.json", {"status": "unavailable", "reason": "no registry"})
    return write_site(load_config(tmp_path / "frameworks.yaml"), layout).read_text(), layout


def test_the_page_marks_the_differences_from_the_figures(tmp_path):
    html, _ = two_frameworks(tmp_path)
    table = html.split('<table class="differences" data-model="mlp">', 1)[1].split("</table>", 1)[0]
    rows = dict(re.findall(r'<tr data-metric="(\w+)"><td>[^<]*</td>\s*(.*?)</tr>', table, re.S))
    assert 'data-framework="groth">groth [default]: 900 ms' in rows["prove_time"]
    assert 'data-ratio="3.11x slower"' in rows["prove_time"]                 # 2.8 s / 0.9 s
    assert 'data-ratio="75.1x larger"' in rows["proof_size"]                 # 19,234 B / 256 B
    assert 'data-ratio="3.5x more"' in rows["prove_peak_memory"]             # 350 MB / 100 MB
    assert 'data-ratio="+4 points"' in rows["accuracy_loss"]                 # 4 % lost against 0 %
    assert "prove_cpu_time" not in rows                                      # one framework has CPU samples
    groth_card = html.split('id="fw-groth"', 1)[1].split("</section>", 1)[0]
    halo_card = html.split('id="fw-halo"', 1)[1].split("</section>", 1)[0]
    assert "fastest proving of the frameworks run here (mlp 900 ms)" in groth_card
    assert "smallest proofs of the frameworks run here (mlp 256 B)" in groth_card
    assert "slowest proving of the frameworks run here (mlp 2.8 s)" in halo_card
    assert "smallest verifying keys" in halo_card                            # 1.5 KB against 3 KB
    assert "fastest setup" not in groth_card + halo_card                     # 1.5 s both: a tie, nobody's pro
    gone_card = html.split('id="fw-gone"', 1)[1].split("</section>", 1)[0]
    assert "Not measured here: no figures to compare." in gone_card and "fastest" not in gone_card


def test_cpu_time_has_a_machine_normalised_figure(tmp_path):
    html, _ = two_frameworks(tmp_path)
    p = Page(html)
    cell = p.cell("halo", "mlp", "default", "prove_cpu_time")["text"]
    assert cell == "2.5 s100 Mmul"       # 2.5 CPU s x 40 M multiplications a second; shown one at a time
    assert format_modmuls(754_338) == "754 kmul" and format_modmuls(12) == "12 mul"
    assert 'id="normalise"' in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (the CI script installs Debian's)")
def test_the_differences_and_the_normalised_view_in_a_browser(tmp_path):
    """Both frameworks' rows hold figures, the ratios are the records', and #normalised switches the CPU
    column to multiplications' worth (the checkbox ticked, the body's class set by the page's script)."""
    _, layout = two_frameworks(tmp_path)
    page = (layout.html / "index.html").as_uri()
    dom = chromium(tmp_path, page, "--dump-dom")
    p = Page(dom)
    assert p.cell("halo", "mlp", "default", "prove_time")["text"] == "2.8 s"
    assert p.cell("groth", "mlp", "default", "prove_time")["text"] == "900 ms"
    assert 'data-ratio="3.11x slower"' in dom and '<body class="">' in dom.replace("<body>", '<body class="">')
    normalised = chromium(tmp_path, page + "#normalised", "--dump-dom")
    assert '<body class="normalised">' in normalised
    assert re.search(r'<input type="checkbox" id="normalise"[^>]*>', normalised)
    shot = tmp_path / "normalised.png"
    chromium(tmp_path, page + "#normalised", "--window-size=1300,1400", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000
