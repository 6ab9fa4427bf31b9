"""`zkml-tracker preview`: serve the published site on localhost (asv's graphs need http, not file://)."""
from __future__ import annotations

import argparse
import functools
import http.server

from tracker.config import Config
from tracker.layout import Layout


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="serve the published site on localhost", description=__doc__)
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    p.add_argument("--bind", default="127.0.0.1", help="address (default: 127.0.0.1)")
    p.set_defaults(func=main)


def make_server(directory, bind: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    return http.server.ThreadingHTTPServer((bind, port), handler)


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    if not (layout.html / "index.html").exists():
        print(f"zkml-tracker: nothing published in {layout.html}; run `zkml-tracker publish` first")
        return 1
    server = make_server(layout.html, args.bind, args.port)
    host, port = server.server_address[:2]
    print(f"serving {layout.html} at http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
