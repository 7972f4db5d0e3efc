"""One ETL run: find new raw objects, load them batch by batch, derive sessions and aggregates.

Exactly-once effect comes from three things: an object's rows and its ledger row commit in
one transaction (``load.load_batch``); the derive phase works from a pending-work table that
is cleared in the transaction that derives from it (``derive.derive``); and a session-level
advisory lock keeps two runs from interleaving. A run that dies anywhere is finished by the
next one: loaded objects are in the ledger, everything else is read again.

No object fails a run by itself: one S3 will not hand over (archived, deleted or rewritten since
it was listed) is ledgered as skipped with its reason, one whose bytes do not decode as rejected,
and the rest of the run loads (``source.fetch``, ``load.load_batch``). Errors of S3 or the
network (throttling, 5xx, timeouts, access denied) still fail the run, with nothing marked done.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickstream_common.observability import log_line

from . import source
from .derive import derive
from .load import BatchResult, ObjectInfo, Skipped, load_batch, prepare
from .normalize import CopyObject, parse_items
from .parse_pool import ParsePool
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
    objects_skipped: int = 0  # not handed over by S3 (archived, deleted, changed): see etl_object_ledger
    events_read: int = 0
    events_loaded: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0
    sessions_touched: int = 0
    newest_event_at: str | None = None
    lag_seconds: float | None = None
    s3_read_ms: int = 0
    duration_ms: int = 0
    # Busy time per phase. list/fetch/parse run on the reader side, overlapping the load
    # steps; load_wait is how long loading sat idle waiting for parsed batches.
    phase_ms: dict[str, int] = field(default_factory=dict)
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
    """Candidates to read, oldest key first: those not yet in the ledger, those whose content
    changed since (another ETag), and skipped ones that may be readable now: their storage
    class changed, or their retry time (``load.SKIP_RETRY_FIRST``) has come."""
    if reprocess or not candidates:
        return sorted(candidates, key=lambda i: i.key)
    seen: dict[str, tuple[str, str, str | None, bool]] = {}
    keys = [c.key for c in candidates]
    for start in range(0, len(keys), 10_000):
        rows = connection.run("SELECT object_key, etag, status, storage_class, coalesce(retry_after <= now(), true)"
                              " FROM etl_object_ledger WHERE object_key = ANY(:keys)",
                              keys=keys[start:start + 10_000])
        seen.update((k, (e, status, storage, due)) for k, e, status, storage, due in rows)

    def wanted(c: ObjectInfo) -> bool:
        if c.key not in seen:
            return True
        etag, status, storage, due = seen[c.key]
        return etag != c.etag or (status == "skipped" and (due or storage != c.storage_class))

    return sorted(filter(wanted, candidates), key=lambda i: i.key)


def _fetch(s3: Any, bucket: str, info: ObjectInfo) -> bytes | Exception | source.Unavailable:
    try:
        return source.fetch(s3, bucket, info)
    except source.DECODE_ERRORS as exc:  # the bytes arrived whole and do not decode: a rejection
        return exc


def run(settings: Settings, request: RunRequest, s3: Any = None, fault: Fault | None = None,
        progress: Progress | None = None, connection: Any = None,
        connect: Callable[[], Any] | None = None) -> RunSummary:
    """Carry out one run; raises WarehouseUnreachable / SourceUnreachable with nothing marked done.

    ``connect`` opens further connections (the derive phase's second one); by default
    ``settings.target.connect``.
    """
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
            _run_locked(connection, connect or settings.target.connect, settings, request, summary, s3, fault,
                        progress, started)
        finally:
            _quietly(connection, "SELECT pg_advisory_unlock(:k)", k=LOCK_KEY)
    finally:
        if own_connection:
            _quietly(connection, None)
    return summary


def _run_locked(connection: Any, connect: Callable[[], Any], settings: Settings, request: RunRequest,
                summary: RunSummary, s3: Any, fault: Fault | None, progress: Progress | None,
                started: float) -> None:
    # The planner's estimates for staging and derive tables run large, which turns on JIT
    # compilation that costs up to a second a statement and does not pay back (bench/RESULTS.md).
    connection.run("SET jit = off")
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
        t0 = time.monotonic()
        if request.prefix:
            candidates = list(source.list_objects(s3, settings.bucket, [request.prefix]))
        else:
            candidates = list(source.list_window(s3, settings.bucket, request.since, request.until,
                                                 settings.events_prefix))
        summary.s3_read_ms += int((time.monotonic() - t0) * 1000)
        _add_phase(summary, "list", t0)
        summary.objects_listed = len(candidates)
        todo = new_objects(connection, candidates, request.reprocess)
        summary.objects_new = len(todo)
        if request.dry_run:
            summary.pending_keys = [i.key for i in todo[:100]]
            summary.status = "dry_run"
            _finish(connection, summary, started)
            return
        _load_all(connection, settings, run_id, todo, summary, s3, fault, progress)
        t0 = time.monotonic()
        # A threshold of 0 means "always", but a run with nothing to derive needs no second connection.
        groups = connection.run("SELECT count(*) FROM etl_pending_groups")[0][0]
        derived = derive(connection, run_id, fault,
                         helper=connect if groups >= max(settings.derive_parallel_min_groups, 1) else None,
                         attribution_lookback_days=settings.attribution_lookback_days)
        _add_phase(summary, "derive", t0)
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
    # A reader thread fetches and parses batch n+1 while this thread loads batch n. Parsing is
    # Python: in worker processes (ParsePool) it leaves this process free to feed PostgreSQL.
    # Fault injection at each line needs the parser in this process.
    parse_pool = None
    if (settings.parse_workers > 0 and fault is None
            and sum(i.size for i in todo) >= settings.parse_pool_min_bytes):
        t0 = time.monotonic()
        parse_pool = ParsePool(settings.parse_workers)
        _add_phase(summary, "parse_start", t0)
    ready: queue.Queue[tuple[list[ObjectInfo], list[tuple[ObjectInfo, CopyObject]], list[Skipped]]
                       | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()
    reader = threading.Thread(target=_read_batches, name="etl-reader",
                              args=(batches, settings, s3, fault, summary, ready, stop, run_id, parse_pool),
                              daemon=True)
    reader.start()
    try:
        while True:
            t0 = time.monotonic()
            item = ready.get()
            _add_phase(summary, "load_wait", t0)
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            batch, parsed, skipped = item
            result: BatchResult = load_batch(connection, run_id, parsed, skipped)
            if skipped:
                # Once the ledger holds them: a crash before the commit reads them again.
                log_line("WARNING", "raw objects skipped", stream=sys.stderr, run_id=run_id,
                         objects_skipped=len(skipped),
                         objects=[{"key": info.key, "etag": info.etag, "reason": reason, "detail": detail}
                                  for info, reason, detail in skipped[:20]])
            for step, seconds in result.timings.items():
                summary.phase_ms[step] = summary.phase_ms.get(step, 0) + int(seconds * 1000)
            done += len(batch)
            summary.objects_loaded += result.objects
            summary.objects_skipped += result.objects_skipped
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
        if parse_pool is not None:
            parse_pool.close()
    if newest is not None:
        summary.newest_event_at = newest.isoformat()


def _read_batches(batches: list[list[ObjectInfo]], settings: Settings, s3: Any, fault: Fault | None,
                  summary: RunSummary, ready: queue.Queue, stop: threading.Event, run_id: int,
                  parse_pool: ParsePool | None) -> None:
    on_line = (lambda key, line: fault("line", (key, line))) if fault else None
    try:
        with ThreadPoolExecutor(settings.read_workers, thread_name_prefix="s3-read") as fetchers:
            def fetch(batch: list[ObjectInfo]) -> list[Future]:
                return [fetchers.submit(_fetch, s3, settings.bucket, info) for info in batch]

            # GETs for the next batch run while this one is parsed.
            upcoming = fetch(batches[0]) if batches else []
            for n, batch in enumerate(batches):
                if stop.is_set():
                    return
                t0 = time.monotonic()
                bodies = [f.result() for f in upcoming]
                summary.s3_read_ms += int((time.monotonic() - t0) * 1000)
                _add_phase(summary, "fetch", t0)
                upcoming = fetch(batches[n + 1]) if n + 1 < len(batches) else []
                t0 = time.monotonic()
                got = list(zip(batch, bodies, strict=True))
                skipped: list[Skipped] = [(info, body.reason, body.detail) for info, body in got
                                          if isinstance(body, source.Unavailable)]
                read = [(info, body) for info, body in got if not isinstance(body, source.Unavailable)]
                items = [(info.key, info.last_modified, body) for info, body in read]
                if not items:
                    parsed, cpu = [], 0.0
                elif parse_pool is None:
                    parsed, cpu = parse_items(settings.late_limit, run_id, items, on_line, settings.page_path_rule,
                                              settings.store_currency)
                else:
                    parsed, cpu = parse_pool.parse(settings.late_limit, run_id, items, settings.page_path_rule,
                                                   settings.store_currency)
                _add_phase(summary, "parse", t0)
                summary.phase_ms["parse_cpu"] = summary.phase_ms.get("parse_cpu", 0) + int(cpu * 1000)
                _put(ready, (batch, list(zip([info for info, _ in read], parsed, strict=True)), skipped), stop)
        _put(ready, None, stop)
    except BaseException as exc:
        _put(ready, exc, stop)


def _add_phase(summary: RunSummary, phase: str, since: float) -> None:
    summary.phase_ms[phase] = summary.phase_ms.get(phase, 0) + int((time.monotonic() - since) * 1000)


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
        " objects_loaded = :loaded, objects_skipped = :skipped, events_read = :read, events_loaded = :ev_loaded,"
        " events_duplicate = :dup,"
        " events_rejected = :rej, sessions_touched = :sessions, newest_event_at = :newest,"
        " duration_ms = :ms, summary = CAST(:summary AS jsonb) WHERE run_id = :run_id",
        status=summary.status, listed=summary.objects_listed, loaded=summary.objects_loaded,
        skipped=summary.objects_skipped,
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
