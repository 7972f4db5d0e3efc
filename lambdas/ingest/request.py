"""Turning an API Gateway HTTP API (payload format 2.0) request into a list of events."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from typing import Any


class RequestError(Exception):
    """A request the client must fix: carries the HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    is_base64: bool
    source_ip: str | None
    user_agent: str | None
    request_id: str | None
    api_id: str | None
    stage: str | None
    time_epoch_ms: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def origin(self) -> str | None:
        origin = self.headers.get("origin")
        return origin.rstrip("/") if origin else None

    @property
    def trace_id(self) -> str | None:
        return self.headers.get("x-amzn-trace-id")

    @classmethod
    def from_payload_v2(cls, event: Any) -> HttpRequest:
        if not isinstance(event, dict):
            raise RequestError(400, "bad_payload", "not an API Gateway payload")
        ctx = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
        http = ctx.get("http") if isinstance(ctx.get("http"), dict) else {}
        raw_headers = event.get("headers") if isinstance(event.get("headers"), dict) else {}
        # Payload 2.0 already lower-cases header names; lower-casing again costs little and
        # keeps hand-written test events and other adapters honest.
        headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
        stage = ctx.get("stage")
        path = str(http.get("path") or event.get("rawPath") or "/")
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        time_epoch = ctx.get("timeEpoch")
        body = event.get("body")
        return cls(
            method=str(http.get("method") or "").upper(),
            path=path,
            headers=headers,
            body=body if isinstance(body, str) else None,
            is_base64=bool(event.get("isBase64Encoded")),
            source_ip=http.get("sourceIp"),
            user_agent=http.get("userAgent") or headers.get("user-agent"),
            request_id=ctx.get("requestId"),
            api_id=ctx.get("apiId"),
            stage=stage,
            time_epoch_ms=time_epoch if isinstance(time_epoch, int) and not isinstance(time_epoch, bool) else None,
        )


def _gunzip(data: bytes, limit: int) -> bytes:
    # Bounded decompression: a few KB of gzip can expand to gigabytes.
    decoder = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, auto-detected
    try:
        out = decoder.decompress(data, limit + 1)
    except zlib.error:
        raise RequestError(400, "bad_encoding", "body is not valid gzip") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise RequestError(413, "body_too_large", f"decoded body exceeds {limit} bytes")
    if not decoder.eof:
        raise RequestError(400, "bad_encoding", "gzip body is truncated")
    return out


def decode_body(request: HttpRequest, max_bytes: int) -> bytes:
    """The request body as bytes: base64 and gzip undone, within the size limit."""
    if request.body is None or request.body == "":
        raise RequestError(400, "empty_body", "request body is empty")
    if request.is_base64:
        if len(request.body) > (max_bytes * 4) // 3 + 4 and "gzip" not in request.headers.get("content-encoding", ""):
            raise RequestError(413, "body_too_large", f"body exceeds {max_bytes} bytes")
        try:
            data = base64.b64decode(request.body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "bad_encoding", "body is not valid base64") from None
    else:
        data = request.body.encode("utf-8", "surrogatepass")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in {"gzip", "x-gzip"}:
        if len(data) > max_bytes:
            raise RequestError(413, "body_too_large", f"body exceeds {max_bytes} bytes")
        return _gunzip(data, max_bytes)
    if encoding not in {"", "identity"}:
        raise RequestError(415, "unsupported_encoding", f"content-encoding {encoding!r} is not supported")
    if len(data) > max_bytes:
        raise RequestError(413, "body_too_large", f"body exceeds {max_bytes} bytes")
    return data


def parse_events(data: bytes, max_events: int) -> list[Any]:
    """One event object, a JSON array of events, or ``{"events": [...]}`` -> list of events."""
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise RequestError(400, "bad_json", "body is not valid JSON") from None
    if isinstance(payload, dict) and isinstance(payload.get("events"), list) and len(payload) == 1:
        events = payload["events"]
    elif isinstance(payload, dict):
        events = [payload]
    elif isinstance(payload, list):
        events = payload
    else:
        raise RequestError(400, "bad_shape", "body must be an event object, an array of events or {\"events\": [...]}")
    if not events:
        raise RequestError(400, "no_events", "request holds no events")
    if len(events) > max_events:
        raise RequestError(413, "too_many_events", f"at most {max_events} events per request, got {len(events)}")
    return events
