"""Posting an alert to a webhook (Slack-compatible or any endpoint that takes JSON).

Delivered means the endpoint itself answered 2xx within the deadline. The whole exchange has a total
deadline (a server trickling its answer a byte at a time cannot hold a nightly, and its lock, past it), and
at most `MAX_ANSWER_BYTES` of the answer are read (an endless body cannot fill the memory). A redirect is
not followed: following it would re-send the alert to an address nobody configured (or, as `requests`
does for a 301, turn the POST into an empty GET), so it is reported as not delivered, with its status.
The URL is a secret (a Slack hook URL is its own credential): no message here contains it.
"""
from __future__ import annotations

import json

from tracker.net import DeadlineExceeded, NetError, request

DEADLINE_S = 10.0
MAX_ANSWER_BYTES = 64 * 1024


def post_json(url: str, payload: dict, deadline_s: float = DEADLINE_S,
              max_bytes: int = MAX_ANSWER_BYTES) -> str | None:
    """POST `payload` as JSON; None if delivered, else one line saying why not (without the URL)."""
    body = json.dumps(payload).encode()
    try:
        answer = request(url, body=body, deadline_s=deadline_s, max_bytes=max_bytes,
                         headers={"Content-Type": "application/json", "User-Agent": "zkml-tracker"})
    except DeadlineExceeded as exc:
        return f"webhook timed out ({exc})"
    except NetError as exc:
        return f"webhook not reached or answer refused: {exc}"
    if answer.redirect:
        return f"webhook answered HTTP {answer.status}, a redirect: not followed, so not delivered"
    if not 200 <= answer.status < 300:
        return f"webhook answered HTTP {answer.status}"
    return None
