"""Every request the tracker makes over HTTP: a total deadline, a cap on what is read, no redirect taken blindly.

A per-read timeout (what `requests` offers) does not bound a request: a server that sends one byte every few
seconds, or an endless body, keeps it going for ever or fills the memory. Here the whole exchange (name
lookup, connect, send, headers, body) runs in a worker thread the caller waits on for `deadline_s` at most;
at the deadline the socket is shut, so the worker ends too, and the caller gets `NetError`. The body is read
in chunks and refused past `max_bytes`. Redirects are followed only where the caller allows (`redirects`),
within the same deadline; otherwise a 3xx is returned as it is, for the caller to call it what it is.
`reach` only opens a connection, within the same kind of deadline, to tell whether a host can be reached.

Messages never contain the URL: a webhook URL is a secret, and a registry URL may carry a token.
Proxies named in the environment (`https_proxy`, `http_proxy`, `no_proxy`) are honoured, as `requests` did.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

CHUNK = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


class NetError(Exception):
    """The request did not get an answer within its limits; one line, no URL."""


class DeadlineExceeded(NetError):
    """No complete answer within the total deadline."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    location: str = ""  # where a 3xx points (not followed); a secret like the URL, never printed

    @property
    def redirect(self) -> bool:
        return self.status in REDIRECTS


@dataclass
class _Call:
    url: str
    method: str
    body: bytes | None
    headers: dict
    max_bytes: int
    deadline_s: float


@dataclass
class _Exchange:
    """What the worker thread shares with the caller: the live connection (to shut it) and the outcome."""

    conn: http.client.HTTPConnection | None = None
    answer: Answer | None = None
    error: BaseException | None = None
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def request(url: str, *, body: bytes | None = None, headers: dict | None = None, deadline_s: float = 30.0,
            max_bytes: int = 1 << 20, redirects: int = 0) -> Answer:
    """One HTTP exchange (a POST of `body`, else a GET), done or abandoned within `deadline_s` seconds in all,
    reading at most `max_bytes` of the answer and following at most `redirects` redirects."""
    exchange = _Exchange()
    call = _Call(url, "GET" if body is None else "POST", body, dict(headers or {}), max_bytes, deadline_s)
    _in_worker(exchange, _work, (call, redirects), deadline_s,
               f"no complete answer within the total deadline of {deadline_s:g} s")
    return exchange.answer


def reach(host: str, port: int = 443, deadline_s: float = 5.0) -> None:
    """Open and close a TCP connection to `host:port` (through the environment's https proxy where one
    applies, its CONNECT answered), within `deadline_s` in all; raise `NetError` otherwise.

    Nothing is sent to the host: it says whether a tool started here (git, cargo) could get out to it."""
    _in_worker(_Exchange(), _connect, (host, port, deadline_s), deadline_s, f"no connection within {deadline_s:g} s")


def _in_worker(exchange: _Exchange, work, args: tuple, deadline_s: float, late: str) -> None:
    """Run `work(exchange, *args)` in a thread waited on for `deadline_s`; past it, shut its socket and
    raise `DeadlineExceeded(late)`; an error of the work is raised here as one `NetError` line."""
    worker = threading.Thread(target=work, args=(exchange, *args), daemon=True)
    worker.start()
    worker.join(deadline_s)
    if worker.is_alive():
        _shut(exchange)
        raise DeadlineExceeded(late)
    if isinstance(exchange.error, TimeoutError):  # its socket's own timeout, the deadline too, came first
        raise DeadlineExceeded(late)
    if exchange.error is not None:
        raise exchange.error if isinstance(exchange.error, NetError) else NetError(_why(exchange.error))


def _connect(exchange: _Exchange, host: str, port: int, deadline_s: float) -> None:
    try:
        proxy = _proxy_for("https", host)
        if proxy is None:
            conn = http.client.HTTPConnection(host, port, timeout=deadline_s)
        else:  # the proxy is asked for a tunnel, as git's https fetch would
            via = urlsplit(proxy)
            conn = http.client.HTTPConnection(via.hostname, via.port or 80, timeout=deadline_s)
            conn.set_tunnel(host, port)
        with exchange.lock:
            if exchange.closed:
                raise NetError("abandoned at the deadline")
            exchange.conn = conn
        try:
            conn.connect()
        finally:
            conn.close()
    except BaseException as exc:  # handed to the caller's thread, which says it in one line
        exchange.error = exc


def _work(exchange: _Exchange, call: _Call, redirects: int) -> None:
    try:
        answer = _once(exchange, call)
        while answer.redirect and answer.location and redirects > 0:
            redirects -= 1
            see_other = answer.status == 303
            call = _Call(urljoin(call.url, answer.location), "GET" if see_other else call.method,
                         None if see_other else call.body, call.headers, call.max_bytes, call.deadline_s)
            answer = _once(exchange, call)
        exchange.answer = answer
    except BaseException as exc:  # handed to the caller's thread, which says it in one line
        exchange.error = exc


def _once(exchange: _Exchange, call: _Call) -> Answer:
    conn, target = _connection(call.url, call.deadline_s)
    with exchange.lock:
        if exchange.closed:
            raise NetError("abandoned at the deadline")
        exchange.conn = conn
    try:
        conn.request(call.method, target, body=call.body, headers=call.headers)
        response = conn.getresponse()
        if response.status in REDIRECTS:
            return Answer(response.status, b"", response.getheader("Location", ""))
        declared = response.getheader("Content-Length", "")
        if declared.isdigit() and int(declared) > call.max_bytes:
            raise NetError(f"answer of {int(declared):,} bytes refused (at most {call.max_bytes:,} are read)")
        return Answer(response.status, _read_capped(response, call.max_bytes))
    finally:
        conn.close()


def _read_capped(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    parts, size = [], 0
    while True:
        chunk = response.read1(CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > max_bytes:
            raise NetError(f"answer longer than {max_bytes:,} bytes: stopped reading there")
        parts.append(chunk)


def _connection(url: str, deadline_s: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection for `url` (through the environment's proxy where one applies) and the request target."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NetError(f"not an http(s) address (scheme {parts.scheme or 'none'!r})")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = _proxy_for(parts.scheme, parts.hostname)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    # each socket operation is bounded by the whole deadline too, so an abandoned worker always ends
    extra = {"timeout": deadline_s, **({"context": ssl.create_default_context()} if parts.scheme == "https" else {})}
    if proxy is None:
        return kind(parts.hostname, parts.port, **extra), target
    via = urlsplit(proxy)
    if parts.scheme == "http":  # a plain-http proxy is asked for the absolute address
        return http.client.HTTPConnection(via.hostname, via.port or 80, timeout=deadline_s), url
    conn = kind(via.hostname, via.port or 80, **extra)
    conn.set_tunnel(parts.hostname, parts.port or 443)
    return conn, target


def _proxy_for(scheme: str, host: str) -> str | None:
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _shut(exchange: _Exchange) -> None:
    """Shut the worker's socket, so that a read blocked in it returns at once and the worker ends."""
    with exchange.lock:
        exchange.closed = True
        sock = exchange.conn.sock if exchange.conn is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _why(exc: BaseException) -> str:
    """One line about a failed exchange, naming the kind of failure, never the address."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({type(exc).__name__})"
    if isinstance(exc, socket.gaierror):
        return "host name not resolved"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (http.client.HTTPException, OSError)):
        return f"unreachable ({type(exc).__name__})"
    return f"failed ({type(exc).__name__})"
