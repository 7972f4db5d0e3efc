"""Turning an API Gateway HTTP API (payload format 2.0) request into a list of events."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
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
        """The request in ``event``; a context value of the wrong type, range or alphabet counts as absent.

        API Gateway fills these fields itself, but a hand-made test event, another adapter or a
        replay tool may not: none of them may turn a good body into a 5xx.
        """
        if not isinstance(event, dict):
            raise RequestError(400, "bad_payload", "not an API Gateway payload")
        ctx = _mapping(event.get("requestContext"))
        http = _mapping(ctx.get("http"))
        # Payload 2.0 already lower-cases header names; lower-casing again costs little and
        # keeps hand-written test events and other adapters honest.
        headers = {k.lower(): v for k, v in _mapping(event.get("headers")).items()
                   if isinstance(k, str) and isinstance(v, str)}
        stage = _text(ctx.get("stage"))
        path = _text(http.get("path")) or _text(event.get("rawPath")) or "/"
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        body = event.get("body")
        body = body if isinstance(body, str) else None
        return cls(
            method=_method(http.get("method"), (event.get("routeKey"), ctx.get("routeKey")), body is not None),
            path=path,
            headers=headers,
            body=body,
            is_base64=event.get("isBase64Encoded") is True,
            source_ip=_text(http.get("sourceIp"), _MAX_IP_CHARS),
            user_agent=_text(http.get("userAgent")) or headers.get("user-agent"),
            request_id=_meta_value(ctx.get("requestId")),
            api_id=_text(ctx.get("apiId"), _MAX_ID_CHARS),
            stage=stage,
            time_epoch_ms=_epoch_ms(ctx.get("timeEpoch")),
        )


_MAX_IP_CHARS = 64  # the longest IPv6 text with a zone id fits
_MAX_ID_CHARS = 128
# API Gateway's receive time is "now"; outside these years it is not a receive time at all,
# and datetime cannot even represent much of what an int can hold.
_EPOCH_MS_RANGE = range(946_684_800_000, 4_102_444_800_000)  # 2000-01-01 .. 2100-01-01 UTC
# The id goes into S3 object metadata, an HTTP header: printable ASCII, no spaces, short.
_META_VALUE = re.compile(rf"[\x21-\x7e]{{1,{_MAX_ID_CHARS}}}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}")  # an HTTP method is an RFC 9110 token


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any, max_chars: int | None = None) -> str | None:
    if not isinstance(value, str) or not value or (max_chars is not None and len(value) > max_chars):
        return None
    return value


def _meta_value(value: Any) -> str | None:
    return value if isinstance(value, str) and _META_VALUE.fullmatch(value) else None


def _epoch_ms(value: Any) -> int | None:
    return value if type(value) is int and value in _EPOCH_MS_RANGE else None


def _method(method: Any, route_keys: tuple[Any, ...], has_body: bool) -> str:
    """The HTTP method; else the verb of a ``"POST /clickstream"`` route key; else POST when there is a body.

    The function is routed POST and OPTIONS only, and a preflight carries no body.
    """
    if isinstance(method, str) and _TOKEN.fullmatch(method):
        return method.upper()
    for key in route_keys:
        if isinstance(key, str):
            verb, space, _ = key.partition(" ")
            if space and _TOKEN.fullmatch(verb):
                return verb.upper()
    return "POST" if has_body else ""


_GZIP_MAGIC = b"\x1f\x8b"
# Members are fed to zlib in slices of this size: at the end of a member zlib copies what is
# left of its input, so feeding it the whole body would make many tiny members quadratic.
_GZIP_SLICE = 16_384


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of ``data`` decoded and concatenated, at most ``limit`` bytes in all.

    RFC 1952 allows several members (concatenated files, some streaming encoders); zero bytes
    after the last one are padding (gzip(1) ignores them too); anything else is refused rather
    than silently dropped. The first member may also be zlib-wrapped (auto-detected).
    """
    view = memoryview(data)
    parts: list[bytes] = []
    size = pos = members = 0
    while pos < len(data) or not members:
        if members and data[pos:pos + 2] != _GZIP_MAGIC:
            if data.count(0, pos) == len(data) - pos:
                break
            raise RequestError(400, "bad_encoding",
                               f"{len(data) - pos} bytes after the end of the gzip data are not a gzip member")
        # 32 + 15: gzip or zlib header auto-detected for the first member; gzip (16 + 15) after it.
        decoder = zlib.decompressobj(wbits=31 if members else 47)
        while not decoder.eof:
            if pos >= len(data):
                raise RequestError(400, "bad_encoding", "gzip body is truncated")
            piece = view[pos:pos + _GZIP_SLICE]
            try:
                # Bounded decompression: a few KB of gzip can expand to gigabytes.
                out = decoder.decompress(piece, limit - size + 1)
            except zlib.error:
                raise RequestError(400, "bad_encoding", "body is not valid gzip") from None
            size += len(out)
            if size > limit:  # also the only way zlib leaves an unconsumed_tail
                raise RequestError(413, "body_too_large", f"decoded body exceeds {limit} bytes")
            parts.append(out)
            pos += len(piece) - len(decoder.unused_data)
        members += 1
    return b"".join(parts)


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


class NonFinite(float):
    """A number standard JSON cannot carry (NaN, Infinity or a literal beyond a double's range).

    ``json.loads`` reads such numbers by default; they are kept as this marker with the
    spelling the client sent, so the event can be refused and stored with it.
    """

    __slots__ = ("text",)

    def __new__(cls, value: float, text: str) -> NonFinite:
        number = super().__new__(cls, value)
        number.text = text
        return number


class Events(list):
    """The events of one request; ``non_finite`` says whether any holds a ``NonFinite`` number."""

    __slots__ = ("non_finite",)

    def __init__(self, events: list[Any], non_finite: bool):
        super().__init__(events)
        self.non_finite = non_finite


_INFINITIES = (math.inf, -math.inf)


def parse_events(data: bytes, max_events: int) -> Events:
    """One event object, a JSON array of events, or ``{"events": [...]}`` -> list of events."""
    seen: list[str] = []

    def constant(text: str) -> NonFinite:  # NaN, Infinity, -Infinity
        seen.append(text)
        return NonFinite(float(text), text)

    def number(text: str) -> float:  # a fraction or exponent: 1e999 parses to inf
        value = float(text)
        if value in _INFINITIES:
            seen.append(text)
            return NonFinite(value, text)
        return value

    try:
        payload = json.loads(data, parse_constant=constant, parse_float=number)
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
    return Events(events, bool(seen))
