"""Faults from outside, provoked for real: hostile HTTP endpoints on 127.0.0.1 (an endless body, an answer
trickled a byte every 2 s, a redirect to another port), upstream refs that move (a tag named like the
followed branch, a branch deleted upstream, a changed `repo:`), releases whose tags lie off the branch,
commits dated before their parents, and the nightly workflow's results branch.
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tracker.history.registry import RegistryError, releases
from tracker.config import Package
from tracker.report.regressions import Regression, post_webhook
from tracker.commands.regressions import EXIT_ALERT_FAILED, report

ROOT = Path(__file__).resolve().parents[1]
SECRET = "http://127.0.0.1:{port}/hooks/SECRET-TOKEN"


# --- a hostile HTTP server ------------------------------------------------------------------------------

class Hostile(http.server.BaseHTTPRequestHandler):
    """Answers as `behaviour` says; records every request it gets (method, path, body)."""

    behaviour = "ok"
    target = ""
    received: list

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append((self.command, self.path, self.rfile.read(length) if length else b""))
        try:
            getattr(self, f"_{self.behaviour}")()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what the test wants

    do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

    def _ok(self) -> None:
        self._head(200, {"Content-Length": "2"})
        self.wfile.write(b"ok")

    def _endless(self) -> None:
        """200, then a body that never ends (no length, no chunking: until the connection closes)."""
        self._head(200, {})
        block = b"x" * 65536
        while True:
            self.wfile.write(block)

    def _trickle(self) -> None:
        """200 and a long body, one byte every 2 s: each read gets something, so no per-read timeout fires."""
        self._head(200, {"Content-Length": "1000"})
        for _ in range(1000):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(2)

    def _redirect(self) -> None:
        self._head(301, {"Location": self.target, "Content-Length": "0"})

    def _head(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(behaviour: str, target: str = "") -> tuple[str, type]:
        handler = type("H", (Hostile,), {"behaviour": behaviour, "target": target, "received": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return SECRET.format(port=server.server_address[1]), handler
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _row() -> Regression:
    return Regression("ezkl", "mlp", "resources", "prove_time", "seconds", "b" * 40, "a" * 40, None, "1.2.0",
                      1.0, 2.0, "")


# --- webhook ---------------------------------------------------------------------------------------------

def test_an_endless_body_is_read_up_to_the_cap_and_the_alert_is_not_delivered(serve):
    url, handler = serve("endless")
    why = post_webhook(url, [_row()], timeout_s=30)
    assert why == "webhook not reached or answer refused: answer longer than 65,536 bytes: stopped reading there"
    assert [(m, p) for m, p, _ in handler.received] == [("POST", "/hooks/SECRET-TOKEN")]
    assert json.loads(handler.received[0][2])["text"].startswith("zkml-tracker: 1 regression(s)")


def test_a_trickling_endpoint_is_abandoned_at_the_total_deadline(serve):
    url, _ = serve("trickle")
    started = time.monotonic()
    why = post_webhook(url, [_row()], timeout_s=3.0)
    elapsed = time.monotonic() - started
    assert why == "webhook timed out (no complete answer within the total deadline of 3 s)"
    assert 3.0 <= elapsed < 4.5  # a per-read timeout of 3 s would never fire: a byte comes every 2 s


def test_a_trickling_endpoint_does_not_hold_the_process_past_its_deadline(serve):
    """In a real child process: the abandoned exchange does not keep the interpreter from exiting."""
    url, _ = serve("trickle")
    code = ("import sys; from tracker.report.regressions import post_webhook, Regression;"
            "r = Regression('f','m','v','prove_time','s','b'*40,None,None,'x',1.0,2.0,'');"
            "print(post_webhook(sys.argv[1], [r], timeout_s=2.5))")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "webhook timed out (no complete answer within the total deadline of 2.5 s)"
    assert time.monotonic() - started < 10


def test_a_redirect_is_not_a_delivery_and_its_target_gets_nothing(serve, capsys):
    target_url, target = serve("ok")
    url, first = serve("redirect", target=target_url)
    assert report([_row()], False, url) == EXIT_ALERT_FAILED
    out = capsys.readouterr()
    assert out.out.splitlines()[-1] == ("zkml-tracker: alert not delivered: webhook answered HTTP 301, a redirect: "
                                        "not followed, so not delivered")
    assert len(first.received) == 1 and first.received[0][0] == "POST"
    assert target.received == []
    assert "SECRET-TOKEN" not in out.out + out.err


def test_a_webhook_that_answers_is_still_delivered(serve, capsys):
    url, handler = serve("ok")
    assert post_webhook(url, [_row()]) is None
    assert len(handler.received) == 1


# --- registries ----------------------------------------------------------------------------------------

def _pypi_answer() -> dict:
    return {"releases": {"1.0.0": [{"filename": "pkg-1.0.0.tar.gz", "yanked": False,
                                    "upload_time_iso_8601": "2024-01-01T00:00:00Z"}]}}


@pytest.mark.parametrize("behaviour", ["endless", "trickle", "redirect"])
def test_a_hostile_registry_falls_back_to_the_cached_list(serve, tmp_path, monkeypatch, behaviour):
    """The registry query has a total deadline and a read cap; the cached release list is used, said so."""
    import tracker.history.registry as registry

    cache = tmp_path / "cache"
    registry_file = cache / "registry" / "pypi-pkg.json"
    registry_file.parent.mkdir(parents=True)
    registry_file.write_text(json.dumps({"version": 1, "releases": [["1.0.0", "2024-01-01T00:00:00+00:00"]]}))
    monkeypatch.setattr(registry, "REGISTRY_DEADLINE_S", 2.0)
    monkeypatch.setattr(registry, "REGISTRY_MAX_BYTES", 1 << 20)
    url, handler = serve(behaviour)
    base = url.rsplit("/hooks", 1)[0]
    handler.target = f"{base}/pypi/pkg/json"  # a redirect to itself, for ever: more hops than the 3 allowed
    monkeypatch.setenv("ZKML_TRACKER_PYPI_URL", f"{base}/pypi")
    started = time.monotonic()
    found, note = releases(Package("pypi", "pkg"), cache)
    assert time.monotonic() - started < 4
    assert [r.version for r in found] == ["1.0.0"]
    why = {"endless": "answer longer than 1,048,576 bytes: stopped reading there",
           "trickle": "no complete answer within the total deadline of 2 s",
           "redirect": "answered HTTP 301"}[behaviour]
    assert note == f"pypi unreachable ({why}); using the release list cached earlier"
