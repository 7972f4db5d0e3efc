"""The load phase: COPY one batch of parsed objects into staging, merge it, ledger it.

One transaction per batch: the events, their dedup registry rows, identity map changes,
rejects, the work left for the derive phase and the objects' ledger rows commit together,
so a crash anywhere leaves either all of a batch or none of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .normalize import EVENT_COLUMNS, ParsedObject

_COLUMNS = (*EVENT_COLUMNS, "etl_run_id")
_COLUMN_LIST = ", ".join(_COLUMNS)
_B_COLUMN_LIST = ", ".join(f"b.{c}" for c in _COLUMNS)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS etl_stage (LIKE clickstream_events) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_rejects (
  object_key text, line_no integer, event_id uuid, reason_code text, field text, reason text,
  raw_line text, received_at timestamptz) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_objects (
  object_key text, etag text, size_bytes bigint, last_modified timestamptz, events_read integer,
  events_rejected integer) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_best (LIKE clickstream_events) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_loaded (object_key text, events integer) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS etl_stage_replaced_clients (client_id text) ON COMMIT DELETE ROWS;
"""

# One copy per event_id within the batch: the same order the registry uses across batches.
_PICK_BEST = f"""
INSERT INTO etl_stage_best ({_COLUMN_LIST})
SELECT DISTINCT ON (event_id) {_COLUMN_LIST} FROM etl_stage
ORDER BY event_id, received_at, raw_object_key, raw_line
"""

# Copies already loaded that a better (earlier received) copy in this batch replaces: their
# rows go, and their session groups and hours are derived again.
_REPLACE_WORSE = """
WITH worse AS (
  SELECT r.event_id, r.event_timestamp FROM etl_stage_best b JOIN clickstream_event_ids r USING (event_id)
  WHERE (b.received_at, b.raw_object_key, b.raw_line) < (r.received_at, r.raw_object_key, r.raw_line)
), gone AS (
  DELETE FROM clickstream_events e USING worse w
  WHERE e.event_id = w.event_id AND e.event_timestamp = w.event_timestamp
  RETURNING e.session_group, e.client_id, date_trunc('hour', e.event_timestamp) AS activity_hour
), groups AS (
  INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM gone ON CONFLICT DO NOTHING
), clients AS (
  -- the replaced copy may have been another client's event: its stitching is redone too
  INSERT INTO etl_stage_replaced_clients SELECT DISTINCT client_id FROM gone WHERE client_id IS NOT NULL
)
INSERT INTO etl_pending_hours SELECT DISTINCT activity_hour FROM gone ON CONFLICT DO NOTHING
"""

_MERGE = f"""
WITH won AS (
  INSERT INTO clickstream_event_ids AS r (event_id, event_timestamp, received_at, raw_object_key, raw_line)
  SELECT event_id, event_timestamp, received_at, raw_object_key, raw_line FROM etl_stage_best
  ON CONFLICT (event_id) DO UPDATE SET
    event_timestamp = excluded.event_timestamp, received_at = excluded.received_at,
    raw_object_key = excluded.raw_object_key, raw_line = excluded.raw_line
  WHERE (excluded.received_at, excluded.raw_object_key, excluded.raw_line)
      < (r.received_at, r.raw_object_key, r.raw_line)
  RETURNING event_id
), inserted AS (
  INSERT INTO clickstream_events ({_COLUMN_LIST})
  SELECT {_B_COLUMN_LIST} FROM etl_stage_best b JOIN won USING (event_id)
  RETURNING raw_object_key, session_group, date_trunc('hour', event_timestamp) AS activity_hour
), groups AS (
  INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM inserted ON CONFLICT DO NOTHING
), hours AS (
  INSERT INTO etl_pending_hours SELECT DISTINCT activity_hour FROM inserted ON CONFLICT DO NOTHING
)
INSERT INTO etl_stage_loaded SELECT raw_object_key, count(*) FROM inserted GROUP BY raw_object_key
"""

# Identity stitching for the clients of this batch, recomputed from their stored events so
# that the result does not depend on load order. Only clients whose stitched user changed get
# their sessions derived again (a newer last_seen_at alone changes no session).
_STITCH = """
WITH touched AS (
  SELECT client_id FROM etl_stage_best WHERE client_id IS NOT NULL AND user_id IS NOT NULL
  UNION SELECT client_id FROM etl_stage_replaced_clients
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
  ON CONFLICT (client_id) DO UPDATE SET
    user_id = excluded.user_id, first_login_at = excluded.first_login_at,
    first_login_event_id = excluded.first_login_event_id, last_seen_at = excluded.last_seen_at,
    updated_run_id = excluded.updated_run_id
  WHERE (m.user_id, m.first_login_at, m.first_login_event_id, m.last_seen_at)
     IS DISTINCT FROM (excluded.user_id, excluded.first_login_at, excluded.first_login_event_id, excluded.last_seen_at)
  RETURNING client_id, user_id
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

_REJECTS = """
INSERT INTO etl_rejected_events
  (object_key, line_no, event_id, reason_code, field, reason, raw_line, received_at, run_id)
SELECT object_key, line_no, event_id, reason_code, field, reason, raw_line, received_at, :run_id
FROM etl_stage_rejects
ON CONFLICT (object_key, line_no) DO UPDATE SET
  reason_code = excluded.reason_code, field = excluded.field, reason = excluded.reason,
  raw_line = excluded.raw_line, run_id = excluded.run_id
"""

_LEDGER = """
INSERT INTO etl_object_ledger AS l
  (object_key, etag, size_bytes, last_modified, events_read, events_loaded, events_duplicate,
   events_rejected, run_id)
SELECT o.object_key, o.etag, o.size_bytes, o.last_modified, o.events_read, coalesce(x.events, 0),
       o.events_read - o.events_rejected - coalesce(x.events, 0), o.events_rejected, :run_id
FROM etl_stage_objects o LEFT JOIN etl_stage_loaded x USING (object_key)
ON CONFLICT (object_key) DO UPDATE SET
  etag = excluded.etag, size_bytes = excluded.size_bytes, last_modified = excluded.last_modified,
  events_read = excluded.events_read, events_loaded = excluded.events_loaded,
  events_duplicate = excluded.events_duplicate, events_rejected = excluded.events_rejected,
  run_id = excluded.run_id, loaded_at = now()
RETURNING events_loaded, events_duplicate
"""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: datetime | None


@dataclass(slots=True)
class BatchResult:
    objects: int = 0
    events_read: int = 0
    events_loaded: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0
    newest_event: datetime | None = None


def _field(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def copy_lines(rows: Iterable[tuple], run_id: int) -> Iterator[str]:
    """Rows -> PostgreSQL COPY text lines (tab separated, \\N for null)."""
    tail = f"\t{run_id}\n"
    field = _field
    escapes = _ESCAPES
    for row in rows:
        # str and None are most fields: handled inline, the rest through _field.
        yield "\t".join([v.translate(escapes) if type(v) is str else "\\N" if v is None else field(v)
                         for v in row]) + tail


def copy_chunks(lines: Iterable[str], size: int = 1 << 20) -> Iterator[bytes]:
    """Lines joined into ~1 MiB messages: pg8000 sends (and flushes) one message per item."""
    chunk: list[str] = []
    length = 0
    for line in lines:
        chunk.append(line)
        length += len(line)
        if length >= size:
            yield "".join(chunk).encode("utf-8")
            chunk, length = [], 0
    if chunk:
        yield "".join(chunk).encode("utf-8")


def prepare(connection: Any) -> None:
    connection.run(_CREATE_STAGING)


def load_batch(connection: Any, run_id: int, parsed: list[tuple[ObjectInfo, ParsedObject]]) -> BatchResult:
    """Load one batch in one transaction (the caller holds the run's advisory lock)."""
    result = BatchResult(objects=len(parsed))
    rows = [row for _, p in parsed for row in p.rows]
    connection.run("START TRANSACTION")
    try:
        if rows:
            connection.run(f"COPY etl_stage ({_COLUMN_LIST}) FROM STDIN",
                           stream=copy_chunks(copy_lines(rows, run_id)))
            low = min(r[1] for r in rows)
            high = max(r[1] for r in rows)
            result.newest_event = high
            connection.run("SELECT dw_ensure_event_partitions(:low, :high)", low=low, high=high)
            connection.run(_PICK_BEST)
            connection.run(_REPLACE_WORSE)
            connection.run(_MERGE)
            connection.run(_STITCH, run_id=run_id)
        rejects = [(p.key, r) for _, p in parsed for r in p.rejected]
        if rejects:
            connection.run(
                "COPY etl_stage_rejects FROM STDIN",
                stream=copy_chunks("\t".join(map(_field, (key, r.line_no, r.event_id, r.code, r.field, r.reason,
                                                           r.raw_line, r.received_at))) + "\n" for key, r in rejects),
            )
            connection.run(_REJECTS, run_id=run_id)
        connection.run(
            "COPY etl_stage_objects FROM STDIN",
            stream=copy_chunks("\t".join(map(_field, (info.key, info.etag, info.size, info.last_modified, p.lines,
                                                       len(p.rejected)))) + "\n" for info, p in parsed),
        )
        for loaded, duplicate in connection.run(_LEDGER, run_id=run_id):
            result.events_loaded += loaded
            result.events_duplicate += duplicate
        connection.run("COMMIT")
    except BaseException:
        _rollback(connection)
        raise
    result.events_read = sum(p.lines for _, p in parsed)
    result.events_rejected = len(rejects)
    return result


def _rollback(connection: Any) -> None:
    # The connection may be gone; the original error is the one that matters.
    with contextlib.suppress(Exception):
        connection.run("ROLLBACK")
