"""One ETL run: find new raw objects, load them batch by batch, derive sessions and aggregates.

Exactly-once effect comes from three things: an object's rows and its ledger row commit in
one transaction (``load.load_batch``); the derive phase works from a pending-work table that
is cleared in the transaction that derives from it (``derive.derive``); and a session-level
advisory lock keeps two runs from interleaving. A run that dies anywhere is finished by the
next one: loaded objects are in the ledger, everything else is read again.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import source
from .derive import derive
from .load import BatchResult, ObjectInfo, load_batch, prepare
from .normalize import ParsedObject, Rejected, parse_object
from .settings import Settings

LOCK_KEY = 0x636C6574  # "clet": one ETL run at a time per warehouse

# fault(phase, detail) is called at the points where tests inject crashes; None in production.
Fault = Callable[[str, Any], None]
Progress = Callable[[int, int, int], None]  # (objects done, objects to do, events loaded)


@dataclass(frozen=True, slots=True)
class RunRequest:
    trigger: str  # schedule | manual | local
    since: datetime
    until: datetime
    prefix: str | None = None
    reprocess: bool = False
    dry_run: bool = False

    @classmethod
    def for_time(cls, now: datetime, lookback: timedelta, trigger: str = "schedule") -> RunRequest:
        return cls(trigger=trigger, since=now - lookback, until=now + timedelta(seconds=1))


@dataclass(slots=True)
class RunSummary:
    status: str = "running"  # succeeded | failed | dry_run | skipped
    run_id: int | None = None
    trigger: str = ""
    window_start: str | None = None
    window_end: str | None = None
    prefix: str | None = None
    reprocess: bool = False
    objects_listed: int = 0
    objects_new: int = 0
    objects_loaded: int = 0
    events_read: int = 0
    events_loaded: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0
    sessions_touched: int = 0
    newest_event_at: str | None = None
    lag_seconds: float | None = None
    s3_read_ms: int = 0
    duration_ms: int = 0
    message: str | None = None
    pending_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.pending_keys:
            data.pop("pending_keys")
        return data


def _batches(infos: list[ObjectInfo], max_objects: int, max_bytes: int) -> Iterator[list[ObjectInfo]]:
    batch: list[ObjectInfo] = []
    size = 0
    for info in infos:
        if batch and (len(batch) >= max_objects or size + info.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(info)
        size += info.size
    if batch:
        yield batch


def new_objects(connection: Any, candidates: list[ObjectInfo], reprocess: bool) -> list[ObjectInfo]:
    """Candidates not yet in the ledger (or whose content changed since), oldest key first."""
    if reprocess or not candidates:
        return sorted(candidates, key=lambda i: i.key)
    seen: dict[str, str] = {}
    keys = [c.key for c in candidates]
    for start in range(0, len(keys), 10_000):
        rows = connection.run("SELECT object_key, etag FROM etl_object_ledger WHERE object_key = ANY(:keys)",
                              keys=keys[start:start + 10_000])
        seen.update((k, e) for k, e in rows)
    return sorted((c for c in candidates if seen.get(c.key) != c.etag), key=lambda i: i.key)


def _parse(info: ObjectInfo, body: bytes | Exception, settings: Settings, on_line: Any) -> ParsedObject:
    if isinstance(body, Exception):
        # An object that cannot be decoded is kept as one rejection, not retried forever.
        parsed = ParsedObject(info.key, lines=1)
        parsed.rejected.append(Rejected(0, "unreadable_object", None, f"object cannot be decoded: {body}", ""))
        return parsed
    return parse_object(info.key, body, info.last_modified, settings.late_limit, on_line)


def _fetch(s3: Any, bucket: str, info: ObjectInfo) -> bytes | Exception:
    try:
        return source.fetch(s3, bucket, info)
    except (OSError, EOFError, ValueError) as exc:  # gzip.BadGzipFile is an OSError
        return exc


def run(settings: Settings, request: RunRequest, s3: Any = None, fault: Fault | None = None,
        progress: Progress | None = None, connection: Any = None) -> RunSummary:
    """Carry out one run; raises WarehouseUnreachable / SourceUnreachable with nothing marked done."""
    started = time.monotonic()
    summary = RunSummary(trigger=request.trigger, window_start=request.since.isoformat(),
                         window_end=request.until.isoformat(), prefix=request.prefix, reprocess=request.reprocess)
    own_connection = connection is None
    if own_connection:
        connection = settings.target.connect()
    try:
        if not connection.run("SELECT pg_try_advisory_lock(:k)", k=LOCK_KEY)[0][0]:
            summary.status = "skipped"
            summary.message = "another ETL run holds the warehouse lock; this run did nothing"
            return summary
        try:
            _run_locked(connection, settings, request, summary, s3, fault, progress, started)
        finally:
            _quietly(connection, "SELECT pg_advisory_unlock(:k)", k=LOCK_KEY)
    finally:
        if own_connection:
            _quietly(connection, None)
    return summary


def _run_locked(connection: Any, settings: Settings, request: RunRequest, summary: RunSummary, s3: Any,
                fault: Fault | None, progress: Progress | None, started: float) -> None:
    # Holding the lock, any run still marked running was interrupted.
    connection.run("UPDATE etl_runs SET status = 'failed', finished_at = now(), error = 'interrupted'"
                   " WHERE status = 'running'")
    summary.run_id = run_id = connection.run(
        "INSERT INTO etl_runs (trigger, window_start, window_end, prefix, reprocess, status)"
        " VALUES (:trigger, :since, :until, :prefix, :reprocess, :status) RETURNING run_id",
        trigger=request.trigger, since=request.since, until=request.until, prefix=request.prefix,
        reprocess=request.reprocess, status="dry_run" if request.dry_run else "running")[0][0]
    try:
        if s3 is None:
            s3 = source.make_s3_client(settings.read_workers)
        prefixes = ([request.prefix] if request.prefix
                    else source.hour_prefixes(request.since, request.until, settings.events_prefix))
        t0 = time.monotonic()
        candidates = list(source.list_objects(s3, settings.bucket, prefixes))
        summary.s3_read_ms += int((time.monotonic() - t0) * 1000)
        summary.objects_listed = len(candidates)
        todo = new_objects(connection, candidates, request.reprocess)
        summary.objects_new = len(todo)
        if request.dry_run:
            summary.pending_keys = [i.key for i in todo[:100]]
            summary.status = "dry_run"
            _finish(connection, summary, started)
            return
        _load_all(connection, settings, run_id, todo, summary, s3, fault, progress)
        derived = derive(connection, run_id, fault)
        summary.sessions_touched = derived.sessions_touched
        summary.status = "succeeded"
        _finish(connection, summary, started)
    except BaseException as exc:
        summary.status = "failed"
        summary.message = f"{type(exc).__name__}: {exc}"
        _quietly(connection, "UPDATE etl_runs SET status = 'failed', finished_at = now(), error = :error,"
                             " duration_ms = :ms WHERE run_id = :run_id",
                 error=summary.message[:4000], ms=int((time.monotonic() - started) * 1000), run_id=run_id)
        raise


def _load_all(connection: Any, settings: Settings, run_id: int, todo: list[ObjectInfo], summary: RunSummary,
              s3: Any, fault: Fault | None, progress: Progress | None) -> None:
    newest: datetime | None = None
    done = 0
    if todo:
        prepare(connection)
    batches = list(_batches(todo, settings.batch_objects, settings.batch_bytes))
    # A reader thread fetches and parses batch n+1 while this thread loads batch n: parsing is
    # Python, loading mostly waits on PostgreSQL, so the two overlap even under the GIL.
    ready: queue.Queue[tuple[list[ObjectInfo], list[tuple[ObjectInfo, ParsedObject]]] | BaseException | None] = (
        queue.Queue(maxsize=1))
    stop = threading.Event()
    reader = threading.Thread(target=_read_batches, name="etl-reader",
                              args=(batches, settings, s3, fault, summary, ready, stop), daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            batch, parsed = item
            result: BatchResult = load_batch(connection, run_id, parsed)
            done += len(batch)
            summary.objects_loaded += result.objects
            summary.events_read += result.events_read
            summary.events_loaded += result.events_loaded
            summary.events_duplicate += result.events_duplicate
            summary.events_rejected += result.events_rejected
            if result.newest_event and (newest is None or result.newest_event > newest):
                newest = result.newest_event
            if progress:
                progress(done, len(todo), summary.events_loaded)
            if fault:
                fault("batch", [i.key for i in batch])
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            ready.get_nowait()  # unblock a reader waiting to hand over its next batch
        reader.join()
    if newest is not None:
        summary.newest_event_at = newest.isoformat()


def _read_batches(batches: list[list[ObjectInfo]], settings: Settings, s3: Any, fault: Fault | None,
                  summary: RunSummary, ready: queue.Queue, stop: threading.Event) -> None:
    on_line = (lambda key, line: fault("line", (key, line))) if fault else None
    try:
        with ThreadPoolExecutor(settings.read_workers, thread_name_prefix="s3-read") as pool:
            for batch in batches:
                if stop.is_set():
                    return
                t0 = time.monotonic()
                bodies = list(pool.map(lambda info: _fetch(s3, settings.bucket, info), batch))
                summary.s3_read_ms += int((time.monotonic() - t0) * 1000)
                parsed = [(info, _parse(info, body, settings, on_line)) for info, body in zip(batch, bodies,
                                                                                              strict=True)]
                _put(ready, (batch, parsed), stop)
        _put(ready, None, stop)
    except BaseException as exc:
        _put(ready, exc, stop)


def _put(ready: queue.Queue, item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _finish(connection: Any, summary: RunSummary, started: float) -> None:
    newest = connection.run(
        "SELECT greatest(CAST(:newest AS timestamptz),"
        " (SELECT max(newest_event_at) FROM etl_runs WHERE status = 'succeeded'))",
        newest=summary.newest_event_at)[0][0]
    if newest is not None:
        summary.lag_seconds = round((datetime.now(UTC) - newest).total_seconds(), 3)
    summary.duration_ms = int((time.monotonic() - started) * 1000)
    connection.run(
        "UPDATE etl_runs SET status = :status, finished_at = now(), objects_listed = :listed,"
        " objects_loaded = :loaded, events_read = :read, events_loaded = :ev_loaded, events_duplicate = :dup,"
        " events_rejected = :rej, sessions_touched = :sessions, newest_event_at = :newest,"
        " duration_ms = :ms, summary = CAST(:summary AS jsonb) WHERE run_id = :run_id",
        status=summary.status, listed=summary.objects_listed, loaded=summary.objects_loaded,
        read=summary.events_read, ev_loaded=summary.events_loaded, dup=summary.events_duplicate,
        rej=summary.events_rejected, sessions=summary.sessions_touched, newest=summary.newest_event_at,
        ms=summary.duration_ms, summary=_json(summary.as_dict()), run_id=summary.run_id)


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, default=str)


def _quietly(connection: Any, sql: str | None, **params: Any) -> None:
    """Best effort on a connection that may already be broken; the original error matters more."""
    try:
        if sql is None:
            connection.close()
        else:
            connection.run(sql, **params)
    except Exception:  # noqa: S110
        pass
