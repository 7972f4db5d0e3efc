"""A local stand-in for API Gateway's HTTP API: real HTTP in, payload format 2.0 events out.

It calls the very handler that runs in Lambda, so the local platform and the end-to-end
tests exercise the production code path. Optionally it also serves a folder of static
files (the demo storefront) on GET, so the tracker posts to ``/clickstream`` same-origin.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
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
# socketserver's default backlog is 5: a burst of browsers or a load test got connection
# resets before a thread could accept. The kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 512
# A client that stops sending mid-request (or idles on keep-alive) frees its thread after this.
SOCKET_TIMEOUT_S = 60
_DIGITS = re.compile(r"[0-9]{1,20}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token, what a method must be
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


class _Refused(Exception):
    """A request whose framing cannot be trusted: answered with ``status`` and the connection closed."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _json_error(status: HTTPStatus, message: str) -> bytes:
    return json.dumps({"error": status.name.lower(), "message": message}).encode()


def _make_request_handler(handler: LambdaHandler, function_name: str, api_id: str, stage: str,
                          static_dir: Path | None, invoke_paths: tuple[str, ...]):
    class Adapter(BaseHTTPRequestHandler):
        server_version = "clickstream-local-apigw/1"
        protocol_version = "HTTP/1.1"
        timeout = SOCKET_TIMEOUT_S

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the handler logs JSON
            pass

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (bad request line, headers too long, ...): JSON like every other answer."""
            status = HTTPStatus(code)
            self.close_connection = True
            # A request line that did not parse leaves HTTP/0.9, whose answers have no status
            # line or headers: the client would get the JSON with no status to read.
            self.request_version = "HTTP/1.1"
            body = _json_error(status, message or status.phrase)
            self.send_response(status)  # the standard phrase: ``message`` may quote the request
            self.send_header("connection", "close")
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            if not _TOKEN.fullmatch(self.command):
                self.send_error(HTTPStatus.BAD_REQUEST, "the method is not an HTTP token")
                return False
            return True

        def __getattr__(self, name: str) -> Any:
            # API Gateway hands any method to the function, which answers 405 for those it does
            # not take; http.server would answer 501 for a method without a do_ method.
            if name.startswith("do_"):
                return self._invoke
            raise AttributeError(name)

        def _content_length(self) -> int:
            values = self.headers.get_all("content-length") or []
            lengths = {v.strip() for value in values for v in value.split(",")}
            if not lengths:
                return 0
            if len(lengths) > 1:
                raise _Refused(HTTPStatus.BAD_REQUEST, "conflicting Content-Length values")
            [length] = lengths
            if not _DIGITS.fullmatch(length):
                raise _Refused(HTTPStatus.BAD_REQUEST, f"Content-Length {length[:40]!r} is not a byte count")
            if int(length) > MAX_REQUEST_BYTES:
                raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body exceeds {MAX_REQUEST_BYTES} bytes")
            return int(length)

        def _read_exactly(self, size: int) -> bytes:
            data = self.rfile.read(size)
            if len(data) < size:
                raise _Refused(HTTPStatus.BAD_REQUEST, "the connection closed before the whole body was sent")
            return data

        def _read_chunked(self) -> bytes:
            body = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size_text = line.split(b";", 1)[0].strip()
                if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
                    raise _Refused(HTTPStatus.BAD_REQUEST, "malformed chunked body")
                size = int(size_text, 16)
                if len(body) + size > MAX_REQUEST_BYTES:
                    raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body exceeds {MAX_REQUEST_BYTES} bytes")
                if size == 0:
                    break
                body += self._read_exactly(size)
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise _Refused(HTTPStatus.BAD_REQUEST, "malformed chunked body")
            for _ in range(100):  # trailer fields, ignored; a blank line ends them
                if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                    return bytes(body)
            raise _Refused(HTTPStatus.BAD_REQUEST, "too many trailer fields")

        def _read_body(self) -> bytes:
            """The request body, as framed by Content-Length or chunked transfer coding (RFC 9112 6)."""
            codings = ",".join(self.headers.get_all("transfer-encoding") or [])
            if not codings:
                length = self._content_length()
                return self._read_exactly(length) if length else b""
            if self.headers.get_all("content-length"):
                # Both framings at once is how requests are smuggled past proxies.
                raise _Refused(HTTPStatus.BAD_REQUEST, "both Transfer-Encoding and Content-Length")
            if codings.strip().lower() != "chunked":
                raise _Refused(HTTPStatus.BAD_REQUEST, f"transfer-encoding {codings[:40]!r} is not supported")
            return self._read_chunked()

        def _invoke(self) -> None:
            try:
                body = self._read_body()
            except _Refused as refused:
                self.close_connection = True  # what is left on the connection is not a request
                self._send(refused.status, {"content-type": "application/json", "connection": "close"},
                           _json_error(refused.status, refused.message))
                return
            except TimeoutError:
                self.close_connection = True
                status = HTTPStatus.REQUEST_TIMEOUT
                self._send(status, {"content-type": "application/json", "connection": "close"},
                           _json_error(status, "the body was not sent in time"))
                return
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

    return Adapter


class LocalApiServer(ThreadingHTTPServer):
    """A thread per connection, a listen backlog that holds a burst, threads that do not block exit."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


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
) -> LocalApiServer:
    """An HTTP server (not yet serving) that hands every request for ``invoke_paths`` to ``handler``.

    Without ``static_dir`` every request goes to the function, as with a ``$default`` route.
    """
    root = Path(static_dir).resolve() if static_dir else None
    return LocalApiServer((host, port), _make_request_handler(handler, function_name, api_id, stage, root,
                                                              invoke_paths))
