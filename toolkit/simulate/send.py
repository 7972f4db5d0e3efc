"""Delivering planned batches: over HTTP to any ingest URL, straight into the raw bucket, or to a file.

``sentAt`` is stamped here, by the client's (skewed) clock at the moment the batch leaves:

* over HTTP that moment is now, so a history event's ``sentAt - clientTimestamp`` is its
  age and the ETL (``received - (sent - created)``) puts it back at its planned time. The
  ETL's late limit must then cover the whole history (``TrafficConfig.history_late_limit_hours``);
* the S3 sink runs the ingest Lambda's own ``process`` with API Gateway's receive time set to
  the planned send time, so ``_ingest.received_at`` is what it would have been on that day
  and the ETL's default late limit suffices.
"""

from __future__ import annotations

import dataclasses
import gzip as gzip_module
import http.client
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from .model import Batch

REPO = Path(__file__).resolve().parents[2]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def stamp(batch: Batch, sent_s: float) -> list[dict[str, Any]]:
    """The batch's events as they leave the browser: ``sentAt`` by the client's clock."""
    sent = int(sent_s * 1000) + batch.skew_ms
    return [{**event, "sentAt": sent} for event in batch.events]


def encode(events: list[dict[str, Any]], compress: bool) -> bytes:
    body = _dumps({"events": events}).encode("utf-8")
    # mtime=0: the same batch gives the same bytes.
    return gzip_module.compress(body, compresslevel=5, mtime=0) if compress else body


@dataclass(slots=True)
class Delivery:
    """What became of one batch (after retries and splits)."""

    status: int | None = None
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    requests: int = 0
    bytes: int = 0
    failed: int = 0  # events given up on
    retries: int = 0
    error: str | None = None


class Sink(Protocol):
    def deliver(self, batch: Batch) -> Delivery: ...

    def close(self) -> None: ...


class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After (capped), like the tracker."""

    def __init__(self, max_attempts: int = 6, base_s: float = 0.5, max_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.max_s = max_s
        self.sleep = sleep
        # Jitter is not part of the plan: it needs no seed, only to differ between clients.
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_s, max(0.0, retry_after))
        ceiling = min(self.max_s, self.base_s * 2 ** (attempt - 1))
        with self._lock:
            return ceiling / 2 + self._rng.random() * ceiling / 2


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


# Refused, reset, timed out, cut off mid-response: all worth another try.
RETRYABLE_NETWORK_ERRORS = (OSError, http.client.HTTPException)


class HttpSink:
    """POSTs ``{"events": [...]}`` to an ingest URL, one persistent connection per thread.

    Retries 429, 5xx and network errors (re-stamping ``sentAt`` as the tracker does); halves a
    batch the server finds too large (413); gives up at once on any other 4xx.
    """

    def __init__(self, url: str, *, compress: bool = False, timeout: float = 10.0, origin: str | None = None,
                 retry: RetryPolicy | None = None, clock: Callable[[], float] = time.time):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.compress = compress
        self.timeout = timeout
        self.origin = origin
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, body: bytes, user_agent: str) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json", "user-agent": user_agent}
        if self.compress:
            headers["content-encoding"] = "gzip"
        if self.origin:
            headers["origin"] = self.origin
        conn = self._connection()
        try:
            conn.request("POST", self._path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            self._drop_connection()  # a half-used keep-alive connection cannot be reused
            raise
        if resp.getheader("connection", "").lower() == "close":
            self._drop_connection()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def deliver(self, batch: Batch) -> Delivery:
        return self._deliver(batch, batch.events)

    def _deliver(self, batch: Batch, events: list[dict[str, Any]]) -> Delivery:
        out = Delivery()
        for attempt in range(1, self.retry.max_attempts + 1):
            out.attempts = attempt
            sent = int(self.clock() * 1000) + batch.skew_ms  # the tracker stamps each attempt anew
            body = encode([{**e, "sentAt": sent} for e in events], self.compress)
            out.requests += 1
            out.bytes += len(body)
            retry_after = None
            try:
                status, headers, data = self._post(body, batch.user_agent)
            except RETRYABLE_NETWORK_ERRORS as exc:
                out.status, out.error = None, f"{type(exc).__name__}: {exc}"
            else:
                out.status = status
                if status == 413 and len(events) > 1:
                    half = len(events) // 2
                    first, second = self._deliver(batch, events[:half]), self._deliver(batch, events[half:])
                    return _merge(out, first, second)
                if status == 429 or status >= 500:
                    out.error = f"HTTP {status}"
                    retry_after = _retry_after(headers.get("retry-after"))
                else:
                    payload = _json(data)
                    if 200 <= status < 300:
                        out.accepted = int(payload.get("accepted", len(events)))
                        out.rejected = list(payload.get("rejected") or [])
                        out.error = None
                    else:
                        out.rejected = list(payload.get("rejected") or [])
                        out.failed = len(events) - int(payload.get("accepted", 0) or 0)
                        out.accepted = len(events) - out.failed
                        out.error = f"HTTP {status}: {payload.get('error') or data[:200]!r}"
                    return out
            if attempt < self.retry.max_attempts:
                out.retries += 1
                self.retry.sleep(self.retry.delay(attempt, retry_after))
        out.failed = len(events)
        return out

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _merge(out: Delivery, *parts: Delivery) -> Delivery:
    for part in parts:
        out.accepted += part.accepted
        out.rejected.extend(part.rejected)
        out.attempts += part.attempts
        out.requests += part.requests
        out.bytes += part.bytes
        out.failed += part.failed
        out.retries += part.retries
        out.error = out.error if part.error is None else part.error
        out.status = part.status
    return out


def lambdas_on_path() -> None:
    """Make the Lambdas' import root (``ingest``, ``clickstream_common``) importable."""
    root = str(REPO / "lambdas")
    if root not in sys.path:
        sys.path.insert(0, root)


class S3Sink:
    """Runs each batch through the ingest Lambda's own ``process`` into an S3 bucket.

    The request looks like what API Gateway would have handed the function for this batch:
    the client's user agent and (documentation-range) address, and ``timeEpoch`` set to the
    planned send time plus a little network latency. So validation, enrichment, the
    ``_ingest`` block (``received_at`` included) and the hour-partitioned key are exactly the
    Lambda's. boto3 honours ``AWS_ENDPOINT_URL`` (a moto server locally).
    """

    def __init__(self, bucket: str, *, gzip_objects: bool = False, client: Any = None, s3_max_attempts: int = 5,
                 retry: RetryPolicy | None = None, api_id: str = "simulator", env: dict[str, str] | None = None):
        lambdas_on_path()
        from ingest.handler import process
        from ingest.settings import Settings
        from ingest.storage import S3Store, make_s3_client

        # The Lambda's own settings parsing (limits, prefixes, IP truncation) with our bucket.
        base = Settings.from_env({"RAW_BUCKET_NAME": bucket, **(env or {})})
        self.settings = dataclasses.replace(base, gzip_objects=gzip_objects, s3_max_attempts=s3_max_attempts)
        self.store = S3Store(client or make_s3_client(s3_max_attempts), bucket)
        self._process = process
        self.retry = retry or RetryPolicy()
        self.api_id = api_id

    def deliver(self, batch: Batch) -> Delivery:
        from ingest.request import HttpRequest

        # A deterministic few tens of milliseconds on the wire.
        latency_ms = 20 + (batch.seq * 7919) % 180
        received_ms = int(batch.send_at * 1000) + latency_ms
        body = _dumps({"events": stamp(batch, batch.send_at)})
        request = HttpRequest(
            method="POST", path=self.settings.route_path,
            headers={"content-type": "application/json", "user-agent": batch.user_agent},
            body=body, is_base64=False, source_ip=batch.source_ip, user_agent=batch.user_agent,
            request_id=f"sim-{batch.seq:012d}-{received_ms}", api_id=self.api_id, stage="$default",
            time_epoch_ms=received_ms,
        )
        out = Delivery()
        for attempt in range(1, self.retry.max_attempts + 1):
            out.attempts = attempt
            out.requests += 1
            out.bytes += len(body)
            outcome = self._process(request, self.settings, self.store)
            out.status = outcome.status
            if outcome.status < 500:
                out.accepted = outcome.accepted
                out.rejected = list(outcome.body.get("rejected") or [])
                out.failed = len(batch.events) - outcome.accepted if outcome.status >= 400 else 0
                out.error = outcome.body.get("error") if outcome.status >= 400 else None
                return out
            out.error = outcome.error or outcome.body.get("error")
            if attempt < self.retry.max_attempts:
                out.retries += 1
                self.retry.sleep(self.retry.delay(attempt, None))
        out.failed = len(batch.events)
        return out

    def close(self) -> None:
        pass


class FileSink:
    """Writes each request as one NDJSON line (``--dry-run`` / ``--output``): nothing is sent."""

    def __init__(self, stream: IO[str] | None):
        self.stream = stream  # None: count only
        self._lock = threading.Lock()

    def deliver(self, batch: Batch) -> Delivery:
        if self.stream is None:
            return Delivery(status=200, accepted=len(batch.events), attempts=1, requests=1)
        line = _dumps({"send_at": round(batch.send_at, 3), "kind": batch.kind, "user_agent": batch.user_agent,
                       "source_ip": batch.source_ip, "events": stamp(batch, batch.send_at)})
        with self._lock:
            self.stream.write(line + "\n")
        return Delivery(status=200, accepted=len(batch.events), attempts=1, requests=1, bytes=len(line))

    def close(self) -> None:
        if self.stream is not None:
            self.stream.flush()


@dataclass(slots=True)
class RunStats:
    batches: int = 0
    events: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    duplicate_batches: int = 0
    late_batches: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "events": self.events, "accepted": self.accepted,
                "rejected": self.rejected, "failed": self.failed, "requests": self.requests,
                "retries": self.retries, "bytes": self.bytes, "duplicate_batches": self.duplicate_batches,
                "late_batches": self.late_batches, "statuses": {str(k): v for k, v in self.statuses.items()},
                "errors": dict(self.errors.most_common(5)), "elapsed_s": round(self.elapsed_s, 3),
                "events_per_s": round(self.events / self.elapsed_s, 1) if self.elapsed_s else None}


class RateLimiter:
    """At most ``rate`` events per second on average (token bucket, one second of burst)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = rate if rate and rate > 0 else None
        self.clock = clock
        self.sleep = sleep
        self.tokens = self.rate or 0.0
        self.last = clock()

    def take(self, n: int) -> None:
        if self.rate is None:
            return
        while True:
            now = self.clock()
            self.tokens = min(max(self.rate, n), self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n - 1e-6:  # float dust must not turn into endless tiny sleeps
                self.tokens -= n
                return
            self.sleep((n - self.tokens) / self.rate)


class Progress(Protocol):
    def update(self, stats: RunStats, simulated_s: float) -> None: ...

    def close(self) -> None: ...


def run(batches: Iterable[Batch], sink: Sink, *, concurrency: int = 4, max_rate: float | None = None,
        realtime: bool = True, progress: Progress | None = None, origin_ts: float = 0.0,
        clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> RunStats:
    """Send every batch through ``sink`` in plan order with up to ``concurrency`` requests in flight.

    ``realtime`` holds each batch until the wall clock reaches its planned send time (live
    traffic); history (planned in the past) goes at once, at most ``max_rate`` events/s.
    """
    stats = RunStats()
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(max(1, concurrency) * 2)
    limiter = RateLimiter(max_rate, sleep=sleep)
    started = time.monotonic()
    failures: list[BaseException] = []
    shown = 0.0

    def record(result: Delivery) -> None:
        with lock:
            stats.accepted += result.accepted
            stats.rejected += len(result.rejected)
            stats.failed += result.failed
            stats.requests += result.requests
            stats.retries += result.retries
            stats.bytes += result.bytes
            stats.statuses[result.status] += 1
            if result.error:
                stats.errors[result.error] += 1

    def done(future: Future) -> None:
        slots.release()
        try:
            record(future.result())
        except BaseException as exc:  # a bug in a sink: stop the run, report it
            failures.append(exc)

    # One worker needs no pool: a file or a dry run stays in plan order at full speed.
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="simulate") if concurrency > 1 else None
    try:
        for batch in batches:
            if failures:
                break
            if realtime:
                wait = batch.send_at - clock()
                if wait > 0:
                    sleep(wait)
            limiter.take(len(batch.events))
            with lock:
                stats.batches += 1
                stats.events += len(batch.events)
                stats.duplicate_batches += batch.kind == "duplicate"
                stats.late_batches += batch.kind == "late"
            if pool is None:
                record(sink.deliver(batch))
            else:
                slots.acquire()
                pool.submit(sink.deliver, batch).add_done_callback(done)
            if progress is not None and time.monotonic() - shown > 0.1:
                shown = time.monotonic()
                progress.update(stats, batch.send_at - origin_ts)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        stats.elapsed_s = time.monotonic() - started
        sink.close()
        if progress is not None:
            progress.update(stats, -1)
            progress.close()
    if failures:
        raise failures[0]
    return stats


class RichProgress:
    """A rich progress bar over the simulated time span, with the delivery counters."""

    def __init__(self, total_s: float, label: str = "simulating", stream: IO[str] | None = None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.total_s = max(total_s, 1e-3)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(file=stream or sys.stderr), transient=False,
        )
        self._task = self._progress.add_task(label, total=self.total_s, counts="")
        self._progress.start()

    def update(self, stats: RunStats, simulated_s: float) -> None:
        completed = self.total_s if simulated_s < 0 else min(self.total_s, max(0.0, simulated_s))
        counts = (f"{stats.events} ev sent · {stats.accepted} ok · {stats.rejected} rejected · "
                  f"{stats.failed} failed · {stats.retries} retries")
        self._progress.update(self._task, completed=completed, counts=counts)

    def close(self) -> None:
        self._progress.stop()
