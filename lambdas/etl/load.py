"""The load phase: COPY one batch of parsed objects into staging, merge it, ledger it.

One transaction per batch: the events, their dedup registry rows, identity map changes,
rejects, the work left for the derive phase and the objects' ledger rows commit together,
so a crash anywhere leaves either all of a batch or none of it. That includes the ledger rows
of the batch's objects that S3 would not hand over (archived, deleted or rewritten since
listed): they are ledgered as skipped, with their reason, beside the objects that loaded.

The parser hands over COPY text (``normalize.parse_object_copy``), so loading a batch is
sending bytes and running a fixed handful of set-based statements.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import copy_text
from .normalize import EPOCH_MICROS_COLUMNS, EVENT_COLUMNS, CopyObject, utf8
from .transaction import transaction

_COLUMNS = (*EVENT_COLUMNS, "etl_run_id")
_COLUMN_LIST = ", ".join(_COLUMNS)

def epoch_micros_sql(column: str) -> str:
    """SQL for the timestamptz of ``column``'s integer microseconds since the epoch.

    Whole seconds and the rest apart: an interval times a number is double precision
    arithmetic, exact only while the product fits in 53 bits, which microseconds since the
    epoch do not beyond the year 2255.
    """
    return (f"timestamptz 'epoch' + ({column} / 1000000) * interval '1 second'"
            f" + ({column} % 1000000) * interval '1 microsecond'")


# Parsed rows arrive in etl_stage_copy, shaped like clickstream_events but for its timestamps,
# which COPY text carries as integer microseconds since the epoch (normalize.EPOCH_MICROS_COLUMNS):
# PostgreSQL reads an integer in a third of the time it takes to read a timestamp. Every
# statement reads and deletes staged rows through the view etl_stage, which shows them as
# timestamptz again, column for column like clickstream_events.
_STAGE_VIEW_COLUMNS = ", ".join(f"{epoch_micros_sql(c)} AS {c}" if c in EPOCH_MICROS_COLUMNS else c for c in _COLUMNS)
_CREATE_STAGING = f"""
CREATE TEMP TABLE etl_stage_copy (LIKE clickstream_events) ON COMMIT DELETE ROWS;
ALTER TABLE etl_stage_copy {", ".join(f"ALTER COLUMN {c} TYPE bigint USING NULL" for c in EPOCH_MICROS_COLUMNS)};
CREATE TEMP VIEW etl_stage AS SELECT {_STAGE_VIEW_COLUMNS} FROM etl_stage_copy;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_rejects (
  object_key text, line_no integer, event_id uuid, reason_code text, field text, reason text,
  raw_line text, received_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_objects (
  object_key text, etag text, size_bytes bigint, last_modified timestamptz, events_read integer,
  events_rejected integer, storage_class text, status text, reason text, detail text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_known (event_id uuid, event_timestamp timestamptz, better boolean)
  ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_loaded (object_key text, events integer) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_replaced_clients (client_id text) ON COMMIT DELETE ROWS;
"""

# A batch whose events lie months apart (a backfill, or a record whose clock is far off) gets a
# partition for each month that holds events, not for every month between its first and last.
_ENSURE_MONTHS = """
SELECT count(dw_ensure_event_partitions(m, m))
FROM (SELECT DISTINCT date_trunc('month', event_timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m
      FROM etl_stage) months
"""

# The order in which copies of one event_id compete, here and across batches (the registry):
# earliest received, then lowest object key and line. The result does not depend on the order
# copies arrive in.

# One copy per event_id within the batch: run only when the parser saw an event_id twice in
# the batch, for those ids.
_DROP_WORSE_IN_BATCH = """
DELETE FROM etl_stage s USING etl_stage b
WHERE s.event_id = ANY(CAST(:ids AS uuid[])) AND b.event_id = s.event_id
  AND (b.received_at, b.raw_object_key, b.raw_line) < (s.received_at, s.raw_object_key, s.raw_line)
"""

# Staged events whose event_id is already loaded, and whether the staged copy is the better
# one. Usually none: then staging is loaded as it is, with plain inserts. A copy from the very
# object the loaded one came from is better too: that object is being read again (reprocessed,
# or changed since), and what it holds now replaces what it held, as the current contract and
# tracker dialects read it, whichever line the event is on now.
_KNOWN = """
WITH known AS (
  INSERT INTO etl_stage_known
  SELECT b.event_id, r.event_timestamp,
         (b.received_at, b.raw_object_key, b.raw_line) < (r.received_at, r.raw_object_key, r.raw_line)
         OR b.raw_object_key = r.raw_object_key
  FROM etl_stage b CROSS JOIN LATERAL (
    -- OFFSET 0 keeps this one index probe per staged row: as a plain join the planner hashes
    -- the whole registry, millions of rows, for every batch
    SELECT r.event_timestamp, r.received_at, r.raw_object_key, r.raw_line
    FROM clickstream_event_ids r WHERE r.event_id = b.event_id OFFSET 0) r
  RETURNING better
)
SELECT count(*) FILTER (WHERE better), count(*) FILTER (WHERE NOT better) FROM known
"""

# Loaded copies that a better staged copy replaces: their rows and registry entries go, their
# session groups and hours are derived again, their clients stitched again from scratch, and
# their objects' ledger rows count them as duplicates.
# Staged copies that lose to a loaded one leave staging. What stays in staging is loaded.
_RESOLVE_KNOWN = """
WITH gone AS (
  DELETE FROM clickstream_events e USING etl_stage_known k
  WHERE k.better AND e.event_id = k.event_id AND e.event_timestamp = k.event_timestamp
  RETURNING e.session_group, e.client_id, date_trunc('hour', e.event_timestamp) AS activity_hour, e.raw_object_key
), superseded AS (
  -- The replaced copy's object no longer supplies that event: its ledger row counts it as a
  -- duplicate from now on, so that the ledger's loaded events add up to the warehouse's. An
  -- object read again in this batch is left out: the ledger step rewrites its row.
  UPDATE etl_object_ledger l SET events_loaded = l.events_loaded - g.n, events_duplicate = l.events_duplicate + g.n
  FROM (SELECT raw_object_key, count(*) AS n FROM gone
        WHERE NOT EXISTS (SELECT FROM etl_stage s WHERE s.raw_object_key = gone.raw_object_key)
        GROUP BY 1) g
  WHERE l.object_key = g.raw_object_key
), groups AS (
  INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM gone ON CONFLICT DO NOTHING
), clients AS (
  -- the replaced copy may have been another client's event: its stitching is redone too
  INSERT INTO etl_stage_replaced_clients SELECT DISTINCT client_id FROM gone WHERE client_id IS NOT NULL
)
INSERT INTO etl_pending_hours SELECT DISTINCT activity_hour FROM gone ON CONFLICT DO NOTHING;
DELETE FROM clickstream_event_ids r USING etl_stage_known k WHERE k.better AND r.event_id = k.event_id;
DELETE FROM etl_stage s USING etl_stage_known k WHERE NOT k.better AND s.event_id = k.event_id;
"""

# Staging now holds exactly the copies to load, none of them in the registry: plain inserts
# (no ON CONFLICT, which nearly doubled the insert, and no join back to staging). The advisory
# lock keeps other runs out meanwhile. Registry rows go in sorted by their random UUIDs, so
# that consecutive inserts land on neighbouring pages of its index (events sorted by session
# group for their index gained nothing after the sort's own cost; bench/RESULTS.md).
_MERGE = f"""
WITH ids AS (
  INSERT INTO clickstream_event_ids (event_id, event_timestamp, received_at, raw_object_key, raw_line)
  SELECT event_id, event_timestamp, received_at, raw_object_key, raw_line FROM etl_stage ORDER BY event_id
), inserted AS (
  INSERT INTO clickstream_events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM etl_stage
), groups AS (
  INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM etl_stage ON CONFLICT DO NOTHING
), hours AS (
  INSERT INTO etl_pending_hours SELECT DISTINCT date_trunc('hour', event_timestamp) FROM etl_stage
  ON CONFLICT DO NOTHING
)
INSERT INTO etl_stage_loaded SELECT raw_object_key, count(*) FROM etl_stage GROUP BY raw_object_key
"""

# Identity stitching: a client's map row is a function of its stored logged-in events (the
# first by time then id gives the user; the newest gives last_seen_at), so that it does not
# depend on load order. When a batch only adds events to a client, combining its map row with
# the batch's events gives that function without reading the client's history (which would
# make a backfill quadratic). Clients that lost an event (a better copy replaced it) are
# recomputed from their stored events (_STITCH_FULL). Only clients whose stitched user changed
# get their sessions derived again (a newer last_seen_at alone changes no session).
# Both stitching statements write a map row the same way, and only when something changed.
_MAP_UPSERT = """ON CONFLICT (client_id) DO UPDATE SET
    user_id = excluded.user_id, first_login_at = excluded.first_login_at,
    first_login_event_id = excluded.first_login_event_id, last_seen_at = excluded.last_seen_at,
    updated_run_id = excluded.updated_run_id
  WHERE (m.user_id, m.first_login_at, m.first_login_event_id, m.last_seen_at)
     IS DISTINCT FROM (excluded.user_id, excluded.first_login_at, excluded.first_login_event_id, excluded.last_seen_at)
  RETURNING client_id, user_id"""

_STITCH = f"""
WITH batch AS (
  SELECT DISTINCT ON (client_id) client_id, user_id, event_timestamp, event_id,
         max(event_timestamp) OVER (PARTITION BY client_id) AS last_seen_at
  FROM etl_stage
  WHERE client_id IS NOT NULL AND user_id IS NOT NULL
    AND client_id NOT IN (SELECT client_id FROM etl_stage_replaced_clients)
  ORDER BY client_id, event_timestamp, event_id
), merged AS (
  SELECT client_id, prior_user_id,
         CASE WHEN batch_first THEN b_user_id ELSE prior_user_id END AS user_id,
         CASE WHEN batch_first THEN b_first_at ELSE m_first_at END AS first_login_at,
         CASE WHEN batch_first THEN b_first_id ELSE m_first_id END AS first_login_event_id,
         last_seen_at
  FROM (
    SELECT b.client_id, b.user_id AS b_user_id, b.event_timestamp AS b_first_at, b.event_id AS b_first_id,
           m.user_id AS prior_user_id, m.first_login_at AS m_first_at, m.first_login_event_id AS m_first_id,
           m.client_id IS NULL
             OR (b.event_timestamp, b.event_id) < (m.first_login_at, m.first_login_event_id) AS batch_first,
           greatest(b.last_seen_at, m.last_seen_at) AS last_seen_at
    FROM batch b LEFT JOIN clickstream_identity_map m USING (client_id)
  ) combined
), changed AS (
  INSERT INTO clickstream_identity_map AS m
    (client_id, user_id, first_login_at, first_login_event_id, last_seen_at, updated_run_id)
  SELECT client_id, user_id, first_login_at, first_login_event_id, last_seen_at, :run_id FROM merged
  {_MAP_UPSERT}
)
INSERT INTO etl_pending_groups
SELECT DISTINCT s.session_group
FROM changed c JOIN merged p USING (client_id) JOIN clickstream_sessions s ON s.client_id = c.client_id
WHERE p.prior_user_id IS DISTINCT FROM c.user_id
ON CONFLICT DO NOTHING
"""

_STITCH_FULL = f"""
WITH touched AS (
  SELECT client_id FROM etl_stage_replaced_clients
), first_login AS (
  SELECT DISTINCT ON (e.client_id) e.client_id, e.user_id, e.event_timestamp, e.event_id,
         max(e.event_timestamp) OVER (PARTITION BY e.client_id) AS last_seen_at
  FROM clickstream_events e JOIN touched t USING (client_id)
  WHERE e.user_id IS NOT NULL
  ORDER BY e.client_id, e.event_timestamp, e.event_id
), prior AS (
  -- sibling CTEs share one snapshot: these are the rows as they were before the upsert
  SELECT m.client_id, m.user_id FROM clickstream_identity_map m JOIN touched t USING (client_id)
), changed AS (
  INSERT INTO clickstream_identity_map AS m
    (client_id, user_id, first_login_at, first_login_event_id, last_seen_at, updated_run_id)
  SELECT client_id, user_id, event_timestamp, event_id, last_seen_at, :run_id FROM first_login
  {_MAP_UPSERT}
), dropped AS (
  -- a touched client left with no logged-in event at all is no longer stitched
  DELETE FROM clickstream_identity_map m USING touched t
  WHERE m.client_id = t.client_id AND NOT EXISTS (SELECT 1 FROM first_login f WHERE f.client_id = t.client_id)
  RETURNING m.client_id, CAST(NULL AS text) AS user_id
), moved AS (
  SELECT * FROM changed UNION ALL SELECT * FROM dropped
)
INSERT INTO etl_pending_groups
SELECT DISTINCT s.session_group
FROM moved c LEFT JOIN prior p USING (client_id) JOIN clickstream_sessions s ON s.client_id = c.client_id
WHERE p.user_id IS DISTINCT FROM c.user_id
ON CONFLICT DO NOTHING
"""

# An object read again: an event loaded from it before whose line is rejected now (a corrected
# dialect or contract refuses it) leaves the warehouse, with what was derived from it. Unless
# the object also holds the event on a good line, loaded by this very run.
_UNLOAD_REJECTED = """
WITH gone AS (
  DELETE FROM clickstream_events e USING etl_stage_rejects x, clickstream_event_ids r
  WHERE r.event_id = x.event_id AND r.raw_object_key = x.object_key
    AND e.event_id = r.event_id AND e.event_timestamp = r.event_timestamp AND e.etl_run_id <> :run_id
  RETURNING e.event_id, e.session_group, e.client_id, date_trunc('hour', e.event_timestamp) AS activity_hour
), ids AS (
  DELETE FROM clickstream_event_ids r USING gone g WHERE r.event_id = g.event_id
), groups AS (
  INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM gone ON CONFLICT DO NOTHING
), hours AS (
  INSERT INTO etl_pending_hours SELECT DISTINCT activity_hour FROM gone ON CONFLICT DO NOTHING
), clients AS (
  INSERT INTO etl_stage_replaced_clients SELECT DISTINCT client_id FROM gone WHERE client_id IS NOT NULL
)
SELECT count(*) FROM gone
"""

# The rejections of an object are those of what it holds now: an object read again drops the
# ones a line that is good now left (by the primary key, object first: nothing to find when the
# object is new). A skipped object was not read: its rejections stay with the events of the
# version last read, which stay in the warehouse too.
_CLEAR_REJECTS = """DELETE FROM etl_rejected_events
WHERE object_key IN (SELECT object_key FROM etl_stage_objects WHERE status <> 'skipped')"""

_REJECTS = """
INSERT INTO etl_rejected_events
  (object_key, line_no, event_id, reason_code, field, reason, raw_line, received_at, run_id)
SELECT object_key, line_no, event_id, reason_code, field, reason, raw_line, received_at, :run_id
FROM etl_stage_rejects
ON CONFLICT (object_key, line_no) DO UPDATE SET
  reason_code = excluded.reason_code, field = excluded.field, reason = excluded.reason,
  raw_line = excluded.raw_line, run_id = excluded.run_id
"""

# Objects read: 'loaded', or 'rejected' when their bytes could not be decoded (one
# unreadable_object rejection; read again only once their ETag changes).
_LEDGER = """
INSERT INTO etl_object_ledger AS l
  (object_key, etag, size_bytes, last_modified, storage_class, events_read, events_loaded, events_duplicate,
   events_rejected, run_id, status, reason, detail, failed_at)
SELECT o.object_key, o.etag, o.size_bytes, o.last_modified, o.storage_class, o.events_read, coalesce(x.events, 0),
       o.events_read - o.events_rejected - coalesce(x.events, 0), o.events_rejected, :run_id,
       o.status, o.reason, o.detail, CASE WHEN o.status = 'rejected' THEN now() END
FROM etl_stage_objects o LEFT JOIN etl_stage_loaded x USING (object_key)
WHERE o.status <> 'skipped'
ON CONFLICT (object_key) DO UPDATE SET
  etag = excluded.etag, size_bytes = excluded.size_bytes, last_modified = excluded.last_modified,
  storage_class = excluded.storage_class, events_read = excluded.events_read,
  events_loaded = excluded.events_loaded, events_duplicate = excluded.events_duplicate,
  events_rejected = excluded.events_rejected, run_id = excluded.run_id, loaded_at = now(),
  status = excluded.status, reason = excluded.reason, detail = excluded.detail, failed_at = excluded.failed_at,
  attempts = 0, retry_after = NULL
RETURNING events_loaded, events_duplicate
"""

# When a skipped object is read again though its ETag and storage class are unchanged
# (pipeline.new_objects). An archived object may be restored at any time without either
# changing (a restore is a temporary copy; the listing still says GLACIER): it is tried again
# after SKIP_RETRY_FIRST, then twice as long after each further skip, at most SKIP_RETRY_LONGEST
# apart. A deleted or rewritten key is read whenever it is listed again: listed, it exists, and
# a rewritten one has a new ETag anyway.
SKIP_RETRY_FIRST = timedelta(hours=1)
SKIP_RETRY_LONGEST = timedelta(hours=24)

# Objects S3 would not hand over. A key whose earlier version was loaded keeps that version's
# counts and loaded_at (its events stay in the warehouse until a version is read); loaded_at is
# NULL when no version ever was. A skip never overwrites the row of the very version that was
# read (a reprocessing run that finds it archived since): the warehouse holds that version.
_SKIP_LEDGER = """
INSERT INTO etl_object_ledger AS l
  (object_key, etag, size_bytes, last_modified, storage_class, events_read, events_loaded, events_duplicate,
   events_rejected, run_id, status, reason, detail, loaded_at, failed_at, attempts, retry_after)
SELECT object_key, etag, size_bytes, last_modified, storage_class, 0, 0, 0, 0, :run_id, 'skipped', reason, detail,
       NULL, now(), 1, now() + CASE WHEN reason = 'archived' THEN CAST(:first AS interval) ELSE interval '0' END
FROM etl_stage_objects WHERE status = 'skipped'
ON CONFLICT (object_key) DO UPDATE SET
  etag = excluded.etag, size_bytes = excluded.size_bytes, last_modified = excluded.last_modified,
  storage_class = excluded.storage_class, run_id = excluded.run_id, status = 'skipped', reason = excluded.reason,
  detail = excluded.detail, failed_at = now(),
  attempts = CASE WHEN l.status = 'skipped' AND l.etag = excluded.etag THEN l.attempts + 1 ELSE 1 END,
  retry_after = now() + CASE
    WHEN excluded.reason <> 'archived' THEN interval '0'
    WHEN l.status = 'skipped' AND l.etag = excluded.etag
      THEN least(CAST(:first AS interval) * power(2, least(l.attempts, 30)), CAST(:longest AS interval))
    ELSE CAST(:first AS interval) END
WHERE l.status = 'skipped' OR l.etag <> excluded.etag
"""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: datetime | None
    storage_class: str | None = None  # as listed: STANDARD, GLACIER, DEEP_ARCHIVE, ...


# An object S3 would not hand over: its listing, the reason (archived | deleted | changed) and
# S3's words for it.
Skipped = tuple[ObjectInfo, str, str]


@dataclass(slots=True)
class BatchResult:
    objects: int = 0  # read (loaded or rejected as unreadable)
    objects_skipped: int = 0
    events_read: int = 0
    events_loaded: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0
    newest_event: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per load step


def copy_chunks(lines: Iterable[str], size: int = 1 << 20) -> Iterator[bytes]:
    """Lines joined into ~1 MiB messages: pg8000 sends (and flushes) one message per item."""
    chunk: list[str] = []
    length = 0
    for line in lines:
        chunk.append(line)
        length += len(line)
        if length >= size:
            yield utf8("".join(chunk))
            chunk, length = [], 0
    if chunk:
        yield utf8("".join(chunk))


def byte_chunks(parts: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """Objects' COPY text joined into ~1 MiB messages."""
    chunk: list[bytes] = []
    length = 0
    for part in parts:
        if part:
            chunk.append(part)
            length += len(part)
            if length >= size:
                yield b"".join(chunk)
                chunk, length = [], 0
    if chunk:
        yield b"".join(chunk)


def prepare(connection: Any) -> None:
    import pg8000.native

    # Staging lives in temporary tables, which use the session's temp_buffers (8 MB by
    # default): a batch is tens of MB, and spilling it to temp files costs more than the COPY.
    # The setting can only change before the session first touches a temporary table.
    with contextlib.suppress(pg8000.native.DatabaseError):
        connection.run("SET temp_buffers = '256MB'")
    if not connection.run("SELECT to_regclass('pg_temp.etl_stage_copy') IS NOT NULL")[0][0]:
        connection.run(_CREATE_STAGING)


def duplicate_ids(parsed: Iterable[CopyObject]) -> list[str]:
    """event_ids that occur more than once in a batch (usually none)."""
    seen: set[str] = set()
    total = 0
    for p in parsed:
        seen.update(p.event_ids)
        total += len(p.event_ids)
    if len(seen) == total:
        return []
    counts: dict[str, int] = {}
    for p in parsed:
        for event_id in p.event_ids:
            counts[event_id] = counts.get(event_id, 0) + 1
    return [event_id for event_id, n in counts.items() if n > 1]


def unreadable(parsed: CopyObject) -> str | None:
    """Why an object's bytes could not be decoded (``normalize.parse_items``), or None."""
    if parsed.rows == 0 and len(parsed.rejected) == 1:
        only = parsed.rejected[0]
        if only.line_no == 0 and only.code == "unreadable_object":
            return only.reason
    return None


def _object_line(info: ObjectInfo, parsed: CopyObject | None, skipped: tuple[str, str] | None) -> str:
    if skipped is not None:
        values: tuple = (info.key, info.etag, info.size, info.last_modified, 0, 0, info.storage_class, "skipped",
                         *skipped)
    else:
        assert parsed is not None
        why = unreadable(parsed)
        values = (info.key, info.etag, info.size, info.last_modified, parsed.lines, len(parsed.rejected),
                  info.storage_class, "loaded" if why is None else "rejected",
                  None if why is None else "unreadable_object", why)
    return copy_text.fields(values) + "\n"


def load_batch(connection: Any, run_id: int, parsed: list[tuple[ObjectInfo, CopyObject]],
               skipped: Sequence[Skipped] = ()) -> BatchResult:
    """Load one batch in one transaction (the caller holds the run's advisory lock)."""
    result = BatchResult(objects=len(parsed), objects_skipped=len(skipped))
    objects = [p for _, p in parsed]
    rows = sum(p.rows for p in objects)
    timings = result.timings
    t = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - t
        t = now

    # Sorts and hashes over a whole batch: in memory, not in temp files.
    with transaction(connection, work_mem="64MB"):
        if rows:
            connection.run(f"COPY etl_stage_copy ({_COLUMN_LIST}) FROM STDIN",
                           stream=byte_chunks(p.data for p in objects))
            lap("copy")
            low = min(p.low for p in objects if p.rows)
            high = max(p.high for p in objects if p.rows)
            result.newest_event = high
            if (high.year - low.year) * 12 + high.month - low.month <= 1:
                connection.run("SELECT dw_ensure_event_partitions(:low, :high)", low=low, high=high)
            else:
                connection.run(_ENSURE_MONTHS)
            duplicates = duplicate_ids(objects)
            if duplicates:
                connection.run(_DROP_WORSE_IN_BATCH, ids=duplicates)
            lap("dedup")
            better, worse = connection.run(_KNOWN)[0]
            if better or worse:
                connection.run(_RESOLVE_KNOWN)
            connection.run(_MERGE)
            lap("merge")
            connection.run(_STITCH, run_id=run_id)
            if better:
                connection.run(_STITCH_FULL, run_id=run_id)
            lap("stitch")
        rejects = [(p.key, r) for p in objects for r in p.rejected]
        connection.run(
            "COPY etl_stage_objects FROM STDIN",
            stream=copy_chunks([*(_object_line(info, p, None) for info, p in parsed),
                                *(_object_line(info, None, (reason, detail)) for info, reason, detail in skipped)]),
        )
        if skipped:
            connection.run(_SKIP_LEDGER, run_id=run_id, first=SKIP_RETRY_FIRST, longest=SKIP_RETRY_LONGEST)
        connection.run(_CLEAR_REJECTS)
        if rejects:
            connection.run(
                "COPY etl_stage_rejects FROM STDIN",
                stream=copy_chunks(copy_text.fields((key, r.line_no, r.event_id, r.code, r.field, r.reason,
                                                     r.raw_line, r.received_at)) + "\n" for key, r in rejects),
            )
            connection.run(_REJECTS, run_id=run_id)
            if connection.run(_UNLOAD_REJECTED, run_id=run_id)[0][0]:
                connection.run(_STITCH_FULL, run_id=run_id)
        for loaded, duplicate in connection.run(_LEDGER, run_id=run_id):
            result.events_loaded += loaded
            result.events_duplicate += duplicate
        lap("ledger")
    lap("commit")
    result.events_read = sum(p.lines for p in objects)
    result.events_rejected = len(rejects)
    return result

