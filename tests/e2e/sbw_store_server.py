"""The SBW Cloudworks storefront stand-in (tests/e2e/sbw_store/) on a loopback port: a
single-page shop whose every route is index.html, as the Next.js app serves its pages, with
the tracker pointed at the endpoint the test chooses."""

from __future__ import annotations

import contextlib
import html
import io
import threading
import urllib.parse
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any

SBW_STORE = Path(__file__).resolve().parent / "sbw_store"
INDEX = SBW_STORE / "index.html"
# What the page ships with; the server swaps in the endpoint a test gives it.
ENDPOINT_META = '<meta name="clickstream-endpoint" content="/clickstream">'


class _SbwStoreHandler(SimpleHTTPRequestHandler):
    endpoint = "/clickstream"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("cache-control", "no-store")
        super().end_headers()

    def send_head(self):
        path = urllib.parse.urlsplit(self.path).path
        name = PurePosixPath(path).name
        # Routes (/, /cart, /product/<slug>) have no extension: the app draws them from the URL.
        if "." in name and name != "index.html":
            return super().send_head()
        page = INDEX.read_text(encoding="utf-8")
        if ENDPOINT_META not in page:
            self.send_error(500, f"index.html has no {ENDPOINT_META}: the fixture changed how it is configured")
            return None
        meta = f'<meta name="clickstream-endpoint" content="{html.escape(self.endpoint, quote=True)}">'
        body = page.replace(ENDPOINT_META, meta).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@contextlib.contextmanager
def sbw_store(port: int, endpoint: str) -> Iterator[str]:
    """tests/e2e/sbw_store/ on 127.0.0.1:`port`, its tracker posting to `endpoint`; yields the origin."""
    handler = type("Handler", (_SbwStoreHandler,), {"endpoint": endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(SBW_STORE)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="sbw-store", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
