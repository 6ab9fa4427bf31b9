"""The regression report: parsing asv's entries, the table, and a webhook that is down, slow or failing."""
from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import pytest

from tracker.commands.regressions import EXIT_ALERT_FAILED, EXIT_REGRESSIONS, report
from tracker.report.regressions import Regression, _parse_entry, format_table, post_webhook

SECRET = "http://127.0.0.1:{port}/hooks/T000/SECRET-TOKEN"


def _row(**kw) -> Regression:
    base = dict(framework="ezkl", model="mlp", variant="resources", metric="prove_time", unit="seconds",
                first_bad="b" * 40, last_good="a" * 40, range_start=None, label="23.0.5", before=1.0, after=2.0,
                link="https://pypi.org/project/ezkl/23.0.5/")
    base.update(kw)
    return Regression(**base)


def test_entry_names_as_asv_writes_them():
    assert _parse_entry("benchmarks.ProveTime.track_prove_time('mlp', 'resources')") == \
        ("prove_time", "mlp", "resources")
    assert _parse_entry("other.bench.time_x") is None


def test_table_shows_commit_change_and_ratio():
    table = format_table([_row(), _row(metric="proof_size", unit="bytes", before=800, after=1600,
                                       range_start="c" * 40)])
    assert "bbbbbbbb" in table and "1 -> 2 seconds" in table and "2.00x" in table
    assert "cccccccc..bbbbbbbb" in table
    assert format_table([]) == "no regressions"


class _Hook(http.server.BaseHTTPRequestHandler):
    status = 200
    delay = 0.0
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        type(self).received.append(json.loads(body))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    def start(status=200, delay=0.0):
        handler = type("Hook", (_Hook,), {"status": status, "delay": delay, "received": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return SECRET.format(port=server.server_address[1]), handler
    servers: list = []
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_a_delivered_alert_is_slack_shaped(hook, capsys):
    url, handler = hook()
    assert report([_row()], False, url) == EXIT_REGRESSIONS
    assert "alert delivered" in capsys.readouterr().out
    assert "ezkl mlp [resources] prove_time: 1 -> 2 seconds (2.00x)" in handler.received[0]["text"]


@pytest.mark.parametrize("kind", ["down", "slow", "500"])
def test_an_undelivered_alert_is_said_and_the_url_never_shown(hook, capsys, kind):
    if kind == "down":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = SECRET.format(port=s.getsockname()[1])  # nothing listens once closed
    else:
        url, _ = hook(status=500 if kind == "500" else 200, delay=3.0 if kind == "slow" else 0.0)
    if kind == "slow":
        assert "timed out" in post_webhook(url, [_row()], timeout_s=0.5)
    status = report([_row()], False, url)
    out = capsys.readouterr()
    # a slow hook times out at 0.5 s above; within the report's 10 s it is delivered
    assert status == (EXIT_REGRESSIONS if kind == "slow" else EXIT_ALERT_FAILED)
    assert "SECRET-TOKEN" not in out.out + out.err
    if kind != "slow":
        assert "alert not delivered" in out.out


def test_no_regressions_posts_nothing(hook):
    url, handler = hook()
    assert report([], False, url) == 0
    assert handler.received == []


def test_the_command_hands_a_typed_request_to_the_verdicts(tmp_path, capsys):
    """`regressions` reads its arguments once into a RegressionsRequest: the logic runs from one, no argparse."""
    import shutil
    from pathlib import Path

    from tests.synthetic import Step, config_text, make_repo
    from tracker.commands.regressions import RegressionsRequest, report_verdicts
    from tracker.config import read_config
    from tracker.layout import Layout

    make_repo(tmp_path / "repo", [Step()])
    (tmp_path / "frameworks.yaml").write_text(config_text(tmp_path / "repo"))
    shutil.copy(Path(__file__).parents[1] / "asv.conf.json", tmp_path)
    config = read_config(tmp_path / "frameworks.yaml")
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    assert report_verdicts(config, layout, RegressionsRequest(frameworks=["synth"], as_json=True)) == 0
    assert json.loads(capsys.readouterr().out)["regressions"] == []
    assert report_verdicts(config, layout, RegressionsRequest()) == 0
    assert "no regressions" in capsys.readouterr().out
