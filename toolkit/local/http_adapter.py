"""A local stand-in for API Gateway's HTTP API: real HTTP in, payload format 2.0 events out.

It calls the very handler that runs in Lambda, so the local platform and the end-to-end
tests exercise the production code path. Optionally it also serves a folder of static
files (the demo storefront) on GET, so the tracker posts to ``/clickstream`` same-origin.
"""

from __future__ import annotations

import base64
import mimetypes
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# API Gateway refuses payloads above 10 MB before the function sees them; so do we.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = ("application/json", "text/", "application/x-ndjson")


class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    def __init__(self, function_name: str, timeout_s: float = 30.0):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def payload_v2(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    *,
    api_id: str = "local",
    stage: str = "$default",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Build the event API Gateway sends for one request (payload format 2.0)."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    content_type = merged.get("content-type", "")
    # Like API Gateway: text bodies pass as strings, anything else (or compressed) as base64.
    is_text = any(content_type.startswith(t) for t in _TEXT_TYPES) and "content-encoding" not in merged
    text_body: str | None = None
    if body and is_text:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    when = now or datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": api_id,
            "domainName": merged.get("host", "localhost"),
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": stage,
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(when.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if body:
        if is_text and text_body is not None:
            event["body"] = text_body
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _make_request_handler(handler: LambdaHandler, function_name: str, api_id: str, stage: str,
                          static_dir: Path | None, invoke_paths: tuple[str, ...]):
    class Adapter(BaseHTTPRequestHandler):
        server_version = "clickstream-local-apigw/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the handler logs JSON
            pass

        def _invoke(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"content-type": "application/json"},
                           b'{"message":"Request Entity Too Large"}')
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            event = payload_v2(self.command, parts.path, parts.query, list(self.headers.items()), body,
                               self.client_address[0], api_id=api_id, stage=stage)
            try:
                response = handler(event, LambdaContext(function_name))
            except Exception:
                # What API Gateway answers when the function itself fails.
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"content-type": "application/json"},
                           b'{"message":"Internal Server Error"}')
                raise
            payload = response.get("body") or ""
            raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
            self._send(int(response.get("statusCode", 200)), response.get("headers") or {}, raw)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _routes_to_function(self) -> bool:
            path = urlsplit(self.path).path
            return static_dir is None or any(path == p or path.startswith(p + "/") for p in invoke_paths)

        def _static(self) -> None:
            assert static_dir is not None
            rel = unquote(urlsplit(self.path).path).lstrip("/") or "index.html"
            target = (static_dir / rel).resolve()
            if target.is_dir():
                target = target / "index.html"
            if static_dir not in target.parents or not target.is_file():
                self._send(HTTPStatus.NOT_FOUND, {"content-type": "text/plain"}, b"not found")
                return
            ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, {"content-type": ctype, "cache-control": "no-cache"}, target.read_bytes())

        def do_GET(self) -> None:
            self._invoke() if self._routes_to_function() else self._static()

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            self._invoke()

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    return Adapter


def make_server(
    handler: LambdaHandler,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    function_name: str = "clickstream-ingest",
    api_id: str = "local",
    stage: str = "$default",
    static_dir: str | Path | None = None,
    invoke_paths: tuple[str, ...] = ("/clickstream",),
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) that hands every request for ``invoke_paths`` to ``handler``.

    Without ``static_dir`` every request goes to the function, as with a ``$default`` route.
    """
    root = Path(static_dir).resolve() if static_dir else None
    server = ThreadingHTTPServer(
        (host, port), _make_request_handler(handler, function_name, api_id, stage, root, invoke_paths)
    )
    server.daemon_threads = True
    return server
