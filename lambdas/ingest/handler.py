"""Ingest Lambda: API Gateway HTTP API (payload 2.0) ``POST /clickstream`` -> S3 raw zone.

``handler`` only parses the invocation and hands plain values to ``process``, which holds
the logic and is what the tests, the benchmark and the local HTTP adapter exercise.

CORS is answered here, not by API Gateway: the function owns the origin allowlist, answers
``OPTIONS`` preflights and adds the CORS headers, so the local adapter and AWS behave the
same (the provisioning routes ``OPTIONS /clickstream`` to the function and configures no
CORS on the API).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from clickstream_common import dialect as dialects
from clickstream_common.observability import emf_block, log_line

from .records import ingest_context, received_at, sort_events
from .request import HttpRequest, RequestError, decode_body, parse_events
from .settings import Settings
from .settings import current as current_settings
from .storage import (
    ObjectStore,
    S3Store,
    StorageError,
    encode_lines,
    encode_record,
    join_lines,
    make_s3_client,
    object_key,
)

ALLOWED_METHODS = "OPTIONS, POST"
ALLOWED_REQUEST_HEADERS = "content-type, content-encoding"

_store_cache: dict[tuple[str, int], ObjectStore] = {}


@dataclass(slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
    bytes_in: int = 0
    bytes_stored: int = 0
    objects: list[str] = field(default_factory=list)
    error: str | None = None


def cors_headers(request: HttpRequest, settings: Settings) -> dict[str, str] | None:
    """CORS response headers for an allowed Origin, {} when there is no Origin, None when refused."""
    origin = request.origin
    if origin is None:
        return {}
    if origin in settings.cors_origins:
        headers = {"access-control-allow-origin": origin, "vary": "Origin"}
        if settings.cors_allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        return headers
    if "*" in settings.cors_origins:
        return {"access-control-allow-origin": "*"}
    return None


def _error(status: int, code: str, message: str, **extra: Any) -> Outcome:
    return Outcome(status, {"error": code, "message": message, **extra})


def _store_invalid_body(store: ObjectStore, settings: Settings, request: HttpRequest, context: dict, when,
                        error: RequestError) -> str | None:
    """Keep a body we could not read at all under invalid/, so bad input is never silently lost."""
    record = {"index": None, "code": error.code, "field": None, "reason": error.message,
              "body": request.body, "is_base64": request.is_base64, "_ingest": context}
    key = object_key(settings.invalid_prefix, when, settings.gzip_objects)
    try:
        store.put(key, encode_lines([record], settings.gzip_objects), _encoding(settings), _meta(request, 1))
    except StorageError:
        return None
    return key


def _encoding(settings: Settings) -> str | None:
    return "gzip" if settings.gzip_objects else None


def _meta(request: HttpRequest, count: int) -> dict[str, str]:
    return {"request-id": str(request.request_id or ""), "events": str(count)}


def process(request: HttpRequest, settings: Settings, store: ObjectStore) -> Outcome:
    """Route, validate, enrich and store one request; never raises for bad input."""
    routed, route_dialect = settings.route(request.path)
    if not routed:
        return _error(404, "not_found", f"no route for {request.path}")
    cors = cors_headers(request, settings)
    if request.method == "OPTIONS":
        if not cors:
            return _error(403, "origin_not_allowed", "preflight from an origin that is not allowed")
        cors.update({
            "access-control-allow-methods": ALLOWED_METHODS,
            "access-control-allow-headers": ALLOWED_REQUEST_HEADERS,
            "access-control-max-age": "600",
        })
        return Outcome(204, {}, cors)
    if request.method != "POST":
        outcome = _error(405, "method_not_allowed", f"{request.method or 'no method'} is not allowed")
        outcome.headers["allow"] = ALLOWED_METHODS
        return outcome
    if cors is None:
        return _error(403, "origin_not_allowed", f"origin {request.origin} is not allowed")

    outcome = _ingest(request, settings, store, settings.dialect_for(route_dialect, request.origin))
    outcome.headers.update(cors)
    return outcome


def _ingest(request: HttpRequest, settings: Settings, store: ObjectStore, dialect_name: str) -> Outcome:
    when = received_at(request)
    context = ingest_context(request, settings, when, dialect_name)
    try:
        data = decode_body(request, settings.max_body_bytes)
        events = parse_events(data, settings.max_events)
    except RequestError as exc:
        outcome = _error(exc.status, exc.code, exc.message)
        if exc.status == 400:
            key = _store_invalid_body(store, settings, request, context, when, exc)
            outcome.objects = [key] if key else []
        return outcome

    batch = sort_events(events, context, dialects.get(dialect_name))
    outcome = Outcome(200, {"accepted": len(batch.valid), "rejected": batch.rejected},
                      accepted=len(batch.valid), rejected=len(batch.rejected), bytes_in=len(data))
    # Invalid records first: if the valid write then fails, the client's retry re-sends the
    # whole request and no accepted event has been stored twice.
    writes = [(settings.invalid_prefix, list(map(encode_record, batch.invalid))),
              (settings.events_prefix, batch.valid)]
    try:
        for prefix, lines in writes:
            if lines:
                key = object_key(prefix, when, settings.gzip_objects)
                body = join_lines(lines, settings.gzip_objects)
                store.put(key, body, _encoding(settings), _meta(request, len(lines)))
                outcome.objects.append(key)
                outcome.bytes_stored += len(body)
    except StorageError as exc:
        failed = _error(503, "storage_unavailable", "events could not be stored; retry the request")
        failed.headers["retry-after"] = str(settings.retry_after_seconds)
        failed.error = str(exc)
        failed.bytes_in = len(data)
        return failed
    if not batch.valid:
        outcome.status = 400
        outcome.body = {"error": "no_valid_events", "message": "no event in the request is valid",
                        "accepted": 0, "rejected": batch.rejected}
    return outcome


def _default_store(settings: Settings) -> ObjectStore:
    key = (settings.bucket, settings.s3_max_attempts)
    store = _store_cache.get(key)
    if store is None:
        store = _store_cache[key] = S3Store(make_s3_client(settings.s3_max_attempts), settings.bucket)
    return store


def to_response(outcome: Outcome) -> dict[str, Any]:
    headers = {"content-type": "application/json", **outcome.headers}
    body = json.dumps(outcome.body, separators=(",", ":")) if outcome.status != 204 else ""
    return {"statusCode": outcome.status, "headers": headers, "body": body, "isBase64Encoded": False}


def handler(event: dict[str, Any], context: Any, store: ObjectStore | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    settings = current_settings()
    try:
        request = HttpRequest.from_payload_v2(event)
    except RequestError as exc:
        outcome, request = _error(exc.status, exc.code, exc.message), None
    else:
        outcome = process(request, settings, store or _default_store(settings))
    metrics = {
        "EventsAccepted": (outcome.accepted, "Count"),
        "EventsRejected": (outcome.rejected, "Count"),
        "BytesReceived": (outcome.bytes_in, "Bytes"),
        "BytesStored": (outcome.bytes_stored, "Bytes"),
    }
    log_line(
        "ERROR" if outcome.status >= 500 else "INFO",
        "ingest request",
        request_id=getattr(request, "request_id", None),
        trace_id=getattr(request, "trace_id", None),
        method=getattr(request, "method", None),
        status=outcome.status,
        objects=outcome.objects,
        error=outcome.error or outcome.body.get("error"),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        **emf_block(metrics, {"Function": "ingest"}),
    )
    return to_response(outcome)
