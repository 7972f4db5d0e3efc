"""Import a seed deployment's warehouse table into this warehouse, through the ETL's own path.

The seed (SBW-Cloudworks ClickStream.Lambda, ``Lambda-ETL.mjs``) loaded one PostgreSQL table,
``clickstream_events`` by default (its ``TARGET_TABLE``), one row per event. Its rows become
raw records in the seed's own shape, written to the raw bucket under
``events/import/seed-dw/<table>/`` as NDJSON objects in the ``seed_legacy`` dialect, and the
ETL is run in this process on that prefix: it loads, deduplicates by event_id, rejects (with a
reason) what it cannot map, and derives sessions and aggregates. The objects stay, so
``invoke_etl.py --local --prefix events/import/seed-dw/<table>/ --reprocess`` reads them again
later (a corrected dialect, say) like any other raw data.

Idempotent: the objects' bytes depend only on the rows (and on the objects already written,
whose boundaries are kept), an object whose bytes are unchanged is not written again, and the
ETL's ledger skips objects it has loaded. ``scripts/import_seed_dw.py`` is the command line;
docs/seed-migration.md describes it all.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import hashlib
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lambdas") not in sys.path:
    sys.path.insert(0, str(REPO / "lambdas"))

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3

DIALECT = "seed_legacy"
PREFIX_ROOT = "events/import/seed-dw/"
DEFAULT_TABLE = "clickstream_events"
DEFAULT_PAGE_SIZE = 5_000
MAX_PAGE_SIZE = 100_000
EXAMPLES = 5
_ID_CHUNK = 10_000  # event ids per reconciliation query

# The seed's table (Lambda-ETL.mjs, ensureTableExists), in its column order. event_timestamp is
# the ingest's receive time (parseEvent: _ingest.receivedAt first): it becomes _ingest.received_at.
EVENT_FIELDS = ("event_id", "event_name", "user_id", "user_login_state", "identity_source", "client_id",
                "session_id", "is_first_visit")
PRODUCT_COLUMNS = ("context_product_id", "context_product_name", "context_product_category",
                   "context_product_brand", "context_product_price", "context_product_discount_price",
                   "context_product_url_path")
SEED_COLUMNS = (EVENT_FIELDS[0], "event_timestamp", *EVENT_FIELDS[1:], *PRODUCT_COLUMNS)
# Columns the import cannot do without, and the types they must have; the others may be missing
# (read as null).
_REQUIRED_TYPES = {"event_id": ("uuid",),
                   "event_timestamp": ("timestamp with time zone", "timestamp without time zone"),
                   "event_name": None}

# An unquoted PostgreSQL identifier, as the seed's TARGET_TABLE had to be (it was put in its SQL
# unquoted, so PostgreSQL folded it to lower case): optionally schema-qualified.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# progress(phase, done, total, detail): phase "read" (rows, rows in the table, objects written)
# or "load" (objects, objects to load, events loaded).
Progress = Callable[[str, int, "int | None", int], None]


class SeedImportError(RuntimeError):
    """The import could not be carried out; ``exit_code`` says how (2 configuration, 3 unreachable)."""

    exit_code = EXIT_FAILED


class BadConfiguration(SeedImportError):
    exit_code = EXIT_CONFIG


class Unreachable(SeedImportError):
    exit_code = EXIT_UNREACHABLE


# --- the source --------------------------------------------------------------------------------

def table_name(text: str) -> str:
    """The source table, checked as an (optionally schema-qualified) identifier and folded to
    lower case as PostgreSQL folded the seed's unquoted name; BadConfiguration otherwise."""
    folded = (text or "").strip().lower()
    parts = folded.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise BadConfiguration(f"--source-table {text!r}: expected a table name such as clickstream_events"
                               " or schema.table (letters, digits, underscores)")
    return folded


def quoted(table: str) -> str:
    """``table`` (checked by table_name) as quoted SQL: the only name put into SQL text."""
    return ".".join(f'"{part}"' for part in table_name(table).split("."))


@dataclass(frozen=True)
class SeedSource:
    """The seed's PostgreSQL and its table."""

    host: str
    database: str
    user: str
    password: str | None = field(default=None, repr=False)
    port: int = 5432
    table: str = DEFAULT_TABLE
    sslmode: str = "verify-full"
    root_cert: str | None = None
    connect_timeout: float = 10.0
    io_timeout: float = 600.0

    def connect(self) -> Any:
        import pg8000.native
        from etl.db import ssl_context

        try:
            context = ssl_context(self.sslmode, self.root_cert)
        except (ValueError, OSError) as exc:
            raise BadConfiguration(f"--source-sslmode/--source-ssl-root-cert: {exc}") from None
        try:
            connection = pg8000.native.Connection(
                self.user, host=self.host, port=self.port, database=self.database, password=self.password,
                ssl_context=context, timeout=self.connect_timeout, application_name="clickstream-seed-import")
        except (OSError, pg8000.native.InterfaceError, pg8000.native.DatabaseError) as exc:
            raise Unreachable(f"cannot connect to the seed's PostgreSQL {self.user}@{self.host}:{self.port}/"
                              f"{self.database}: {exc}") from exc
        sock = getattr(connection, "_usock", None)
        if sock is not None:  # the connect timeout is short; a page of a big table may take longer
            sock.settimeout(self.io_timeout)
        return connection


def source_columns(connection: Any, table: str) -> tuple[str, ...]:
    """The seed columns the table has (all of them, for a table the seed made); BadConfiguration
    when the table is missing, unreadable or lacks what the import needs."""
    name = quoted(table)
    rows = connection.run(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), has_table_privilege(c.oid, 'SELECT')"
        " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
        " WHERE c.oid = to_regclass(:name) AND a.attnum > 0 AND NOT a.attisdropped", name=name)
    if not rows:
        raise BadConfiguration(f"table {table} not found in the seed's database")
    if not rows[0][2]:
        raise BadConfiguration(f"the seed's user may not read table {table} (SELECT privilege)")
    types = {column: kind for column, kind, _ in rows}
    for column, allowed in _REQUIRED_TYPES.items():
        if column not in types:
            raise BadConfiguration(f"table {table} has no column {column}: not a seed warehouse table")
        if allowed is not None and types[column] not in allowed:
            raise BadConfiguration(f"table {table}: {column} is {types[column]}, expected {' or '.join(allowed)}")
    return tuple(c for c in SEED_COLUMNS if c in types)


def read_rows(connection: Any, table: str, columns: tuple[str, ...], page_size: int,
              on_page: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every row in event_id order, in keyset pages of ``page_size`` (parameterized SQL; the
    table name is checked and quoted, the column names are the seed's own)."""
    select = ", ".join(f'"{c}"' for c in columns)
    first = f"SELECT {select} FROM {quoted(table)} ORDER BY event_id LIMIT :limit"  # noqa: S608
    after = (f"SELECT {select} FROM {quoted(table)} WHERE event_id > CAST(:after AS uuid)"  # noqa: S608
             " ORDER BY event_id LIMIT :limit")
    last: str | None = None
    while True:
        page = (connection.run(first, limit=page_size) if last is None
                else connection.run(after, after=last, limit=page_size))
        for values in page:
            yield dict(zip(columns, values, strict=True))
        if on_page is not None:
            on_page(len(page))
        if len(page) < page_size:
            return
        last = str(page[-1][0])


# --- rows -> raw records -> objects -------------------------------------------------------------

def rfc3339(moment: datetime) -> str:
    """UTC, ``Z``; milliseconds as the seed wrote them (toISOString), microseconds when there are any."""
    if moment.tzinfo is None:  # a seed table whose event_timestamp lost its time zone: UTC
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):  # a numeric price column: whole numbers as numbers, the rest as text
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def seed_record(row: Mapping[str, Any], table: str) -> dict[str, Any]:
    """One seed row as the raw record the seed's ingest would have kept, in the seed's own shape.

    The event fields in snake_case as the seed stored them, the product as a nested
    ``context_product`` (the seed_legacy dialect moves it to ``product`` and computes the list
    price from the discount percentage, as sbw_nextjs does), nulls left out, and an ``_ingest``
    naming the receive time, the dialect and the source. The row's event_timestamp is the
    receive time, not a time the client named, so it is not an event field (seed_legacy would
    take an ``event_timestamp`` for the client's time); one that is not a time at all
    ('infinity') is kept there too, for the ETL to reject with its reason.
    """
    record: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        value = row.get(name)
        if value is not None:
            record[name] = _json_value(value)
    product = {}
    for column in PRODUCT_COLUMNS:
        value = row.get(column)
        if value is not None:
            product[column.removeprefix("context_")] = _json_value(value)
    if product:
        record["context_product"] = product
    when = row.get("event_timestamp")
    if isinstance(when, datetime):
        received = rfc3339(when)
    else:
        received = str(when)
        record["event_timestamp"] = received
    record["_ingest"] = {"received_at": received, "dialect": DIALECT, "source": f"seed_dw:{table}"}
    return record


def encode(records: Iterable[dict[str, Any]]) -> bytes:
    """NDJSON, byte for byte the same for the same records."""
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":"), allow_nan=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def pages(rows: Iterable[dict[str, Any]], boundaries: list[str], page_size: int
          ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Rows (in event_id order) grouped into objects: (the object's boundary id, its rows).

    Objects already written keep their boundaries (their keys), so that a row added to the
    source changes the one object whose range holds it, not every object after it. An existing
    object takes up to twice ``page_size`` rows before the rest of its range goes to a new
    object; a new object takes ``page_size``, and its key is its first row's event_id. With no
    objects yet, the objects are the keyset pages. (Within an object, rows go in ``line_order``.)"""
    existing = set(boundaries)
    key = ""
    previous: str | None = None
    current: list[dict[str, Any]] = []
    for row in rows:
        rid = str(row["event_id"])
        i = bisect.bisect_right(boundaries, rid) - 1
        bound = boundaries[i] if i >= 0 else None
        if current:
            limit = 2 * page_size if key in existing else page_size
            if (bound is not None and bound > key) or len(current) >= limit:
                yield key, current
                previous, current = key, []
        if not current:
            key = bound if bound is not None and (previous is None or bound > previous) else rid
        current.append(row)
    if current:
        yield key, current


def line_order(row: Mapping[str, Any]) -> tuple:
    """Where a row goes within its object: by receive time, then event_id.

    The ETL keeps, for each event, the object and line of the copy it loaded, and when it reads
    a rewritten object again (``--reprocess``) it replaces an event's row only from that same
    line or a better one (load._KNOWN). Rows the seed goes on receiving are newer than the rows
    already written, so they are appended to their object and move no line already loaded.
    A stored time that is no time ('infinity') goes last."""
    when = row.get("event_timestamp")
    if isinstance(when, datetime):
        return (0, when if when.tzinfo else when.replace(tzinfo=UTC), str(row["event_id"]))
    return (1, str(when), str(row["event_id"]))


class _Ids:
    """Event ids read, in order, 16 bytes each (a million ids in 16 MB)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, value: Any) -> None:
        self._data += (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes

    def __len__(self) -> int:
        return len(self._data) // 16

    def __getitem__(self, index: int) -> bytes:
        return bytes(self._data[index * 16:index * 16 + 16])

    def __contains__(self, value: uuid.UUID) -> bool:
        i = bisect.bisect_left(self, value.bytes)
        return i < len(self) and self[i] == value.bytes

    def chunks(self, size: int) -> Iterator[list[str]]:
        for start in range(0, len(self), size):
            yield [str(uuid.UUID(bytes=self[i])) for i in range(start, min(start + size, len(self)))]


# --- the raw bucket ----------------------------------------------------------------------------

def existing_objects(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """{boundary event_id: ETag} of the objects an earlier import wrote under ``prefix``."""
    from botocore.exceptions import BotoCoreError, ClientError

    found: dict[str, str] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                name = item["Key"][len(prefix):]
                if name.endswith(".ndjson") and _CANONICAL_UUID.fullmatch(name[:-7]):
                    found[name[:-7]] = item["ETag"].strip('"')
    except (BotoCoreError, ClientError) as exc:
        raise Unreachable(f"cannot list s3://{bucket}/{prefix}: {exc}") from exc
    return found


def put_object(s3: Any, bucket: str, key: str, body: bytes, md5: bytes) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson",
                      ContentMD5=base64.b64encode(md5).decode())
    except (BotoCoreError, ClientError) as exc:
        raise Unreachable(f"cannot write s3://{bucket}/{key}: {exc}") from exc


# --- the import --------------------------------------------------------------------------------

@dataclass(slots=True)
class ImportSummary:
    status: str = "running"  # succeeded | failed | skipped | incomplete | dry_run
    table: str = ""
    bucket: str = ""
    prefix: str = ""
    reprocess: bool = False
    rows_read: int = 0
    objects_written: int = 0
    objects_unchanged: int = 0
    objects_to_write: int = 0  # dry run: what a real run would write
    # this run's ETL: what it loaded (with reprocess: and replaced), found already loaded, and
    # rejected, from the objects it read
    events_loaded: int = 0
    events_duplicate: int = 0
    events_rejected: int = 0
    # every row read, accounted for: in the warehouse (by event_id), rejected (not in the
    # warehouse, with the ETL's reason), or neither (should be 0)
    rows_in_warehouse: int | None = None
    rows_rejected: int | None = None
    rows_unaccounted: int | None = None
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rejected_examples: list[dict[str, Any]] = field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None
    etl_run_id: int | None = None
    etl_status: str | None = None
    duration_ms: int = 0
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for a person."""
        text = (f"seed import {self.table}: {self.status}; {self.rows_read:,} rows read, "
                f"{self.objects_written:,} objects written ({self.objects_unchanged:,} unchanged), "
                f"{self.events_loaded:,} events loaded, {self.events_duplicate:,} duplicates")
        if self.status == "dry_run":
            text = (f"seed import {self.table}: dry run; {self.rows_read:,} rows read, "
                    f"{self.objects_to_write:,} objects to write ({self.objects_unchanged:,} unchanged),"
                    " nothing written")
        if self.rows_rejected is not None:
            reasons = ", ".join(f"{code} {n:,}" for code, n in self.rejected_reasons.items())
            text += f", {self.rows_rejected:,} rows rejected" + (f" ({reasons})" if reasons else "")
        if self.rows_unaccounted:
            text += f", {self.rows_unaccounted:,} rows neither loaded nor rejected"
        if self.message:
            text += f": {self.message}"
        return text


def import_table(source: SeedSource, settings: Any, s3: Any = None, page_size: int = DEFAULT_PAGE_SIZE,
                 dry_run: bool = False, progress: Progress | None = None,
                 source_connection: Any = None, reprocess: bool = False) -> ImportSummary:
    """Read the seed's table, write its rows as raw objects, run the ETL on them, account for
    every row. Raises SeedImportError (BadConfiguration, Unreachable) when it cannot start or
    reach something; a run that loads nothing new returns a summary like any other.

    ``settings`` are the ETL's (``etl.settings.Settings``); ``s3`` a boto3 S3 client (default:
    the ETL's, honouring AWS_ENDPOINT_URL); ``source_connection`` an open pg8000 connection to
    the seed's database (default: ``source.connect()``, closed afterwards). ``reprocess``: the
    ETL reads every object of the import again, not only new and changed ones, and replaces the
    rows loaded from them (after a dialect correction, or rows changed in the seed)."""
    started = time.monotonic()
    table = table_name(source.table)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadConfiguration(f"--page-size must be between 1 and {MAX_PAGE_SIZE:,}")
    prefix = f"{PREFIX_ROOT}{table}/"
    if not prefix.startswith(settings.events_prefix):
        raise BadConfiguration(f"the ETL reads prefixes under {settings.events_prefix!r} only, not {prefix!r}")
    summary = ImportSummary(table=table, bucket=settings.bucket, prefix=prefix, reprocess=reprocess)
    if s3 is None:
        from etl.source import make_s3_client

        s3 = make_s3_client(settings.read_workers)
    report = progress or (lambda *_: None)
    existing = existing_objects(s3, settings.bucket, prefix)
    ids = _Ids()
    low: datetime | None = None
    high: datetime | None = None

    import pg8000.native

    connection = source_connection if source_connection is not None else source.connect()
    try:
        columns = source_columns(connection, table)
        # One snapshot for every page: what is read is the table at one moment.
        connection.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        total = connection.run(f"SELECT count(*) FROM {quoted(table)}")[0][0]  # noqa: S608
        report("read", 0, total, 0)

        def page_read(rows: int) -> None:
            summary.rows_read += rows
            report("read", summary.rows_read, total, summary.objects_written)

        rows = read_rows(connection, table, columns, page_size, page_read)
        for boundary, page in pages(rows, sorted(existing), page_size):
            for row in page:
                ids.append(row["event_id"])  # in event_id order, as _Ids needs
                when = row["event_timestamp"]
                if isinstance(when, datetime):
                    when = when if when.tzinfo else when.replace(tzinfo=UTC)
                    low = when if low is None or when < low else low
                    high = when if high is None or when > high else high
            body = encode(seed_record(row, table) for row in sorted(page, key=line_order))
            md5 = hashlib.md5(body, usedforsecurity=False).digest()
            if existing.get(boundary) == md5.hex():
                summary.objects_unchanged += 1
            elif dry_run:
                summary.objects_to_write += 1
            else:
                put_object(s3, settings.bucket, f"{prefix}{boundary}.ndjson", body, md5)
                summary.objects_written += 1
                report("read", summary.rows_read, total, summary.objects_written)
        connection.run("COMMIT")
    except (OSError, pg8000.native.InterfaceError) as exc:
        raise Unreachable(f"lost the seed's PostgreSQL while reading {table}: {exc}") from exc
    except pg8000.native.DatabaseError as exc:
        raise SeedImportError(f"reading {table} failed: {exc}") from exc
    finally:
        if source_connection is None:
            _quietly_close(connection)
        else:
            _quietly_rollback(connection)

    if low is None or high is None:
        low = high = datetime.now(UTC)
    since, until = low, high + timedelta(seconds=1)
    summary.window_start, summary.window_end = since.isoformat(), until.isoformat()
    if dry_run:
        summary.status = "dry_run"
        summary.duration_ms = int((time.monotonic() - started) * 1000)
        return summary
    if not len(ids) and not existing:
        summary.status = "succeeded"
        summary.message = "the table is empty"
        summary.rows_in_warehouse = summary.rows_rejected = summary.rows_unaccounted = 0
        summary.duration_ms = int((time.monotonic() - started) * 1000)
        return summary

    _run_etl(settings, s3, summary, since, until, report, reprocess)
    if summary.etl_status == "succeeded":
        _account(settings, summary, ids)
    summary.duration_ms = int((time.monotonic() - started) * 1000)
    return summary


def _run_etl(settings: Any, s3: Any, summary: ImportSummary, since: datetime, until: datetime,
             report: Progress, reprocess: bool = False) -> None:
    """The ETL, in this process, on the import's prefix (every object there not yet in its ledger)."""
    from etl.db import WarehouseUnreachable
    from etl.pipeline import RunRequest, run
    from etl.source import SourceUnreachable

    # The window only labels the run (etl_runs): a prefix run lists the prefix whole. The late
    # limit cannot bite: a record's event time is its receive time, the seed's event_timestamp.
    request = RunRequest(trigger="manual", since=since, until=until, prefix=summary.prefix, reprocess=reprocess)
    try:
        result = run(settings, request, s3=s3, progress=lambda done, todo, events: report("load", done, todo, events))
    except WarehouseUnreachable as exc:
        raise Unreachable(f"warehouse unreachable: {exc}") from exc
    except SourceUnreachable as exc:
        raise Unreachable(f"raw bucket unreachable: {exc}") from exc
    except Exception as exc:  # the run is marked failed in etl_runs; nothing half-loaded stays
        summary.status = summary.etl_status = "failed"
        summary.message = f"ETL run failed: {type(exc).__name__}: {exc}"
        return
    summary.etl_run_id, summary.etl_status = result.run_id, result.status
    summary.events_loaded, summary.events_duplicate = result.events_loaded, result.events_duplicate
    summary.events_rejected = result.events_rejected
    if result.status == "skipped":
        summary.status = "skipped"
        summary.message = ("another ETL run holds the warehouse lock, so nothing was loaded; the objects are"
                           " written: run the import again (scheduled runs do not read this prefix)")
    elif result.status != "succeeded":
        summary.status = "failed"
        summary.message = result.message or f"ETL run {result.status}"


_REJECTED = """
SELECT DISTINCT ON (x.event_id) x.event_id, x.reason_code, x.field, x.reason, x.object_key, x.line_no
FROM etl_rejected_events x
WHERE starts_with(x.object_key, :prefix) AND x.event_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM clickstream_event_ids r WHERE r.event_id = x.event_id)
ORDER BY x.event_id, x.rejected_id DESC
"""


def _account(settings: Any, summary: ImportSummary, ids: _Ids) -> None:
    """Where every row read is now: in the warehouse, rejected (the latest reason the ETL gave
    for its event_id in this import's objects), or neither."""
    from etl.db import WarehouseUnreachable

    try:
        connection = settings.target.connect()
    except WarehouseUnreachable as exc:
        raise Unreachable(f"warehouse unreachable: {exc}") from exc
    try:
        present = 0
        for chunk in ids.chunks(_ID_CHUNK):
            present += connection.run("SELECT count(*) FROM clickstream_event_ids"
                                      " WHERE event_id = ANY(CAST(:ids AS uuid[]))", ids=chunk)[0][0]
        rejected = [r for r in connection.run(_REJECTED, prefix=summary.prefix)
                    if _as_uuid(r[0]) in ids]
    finally:
        _quietly_close(connection)
    rejected.sort(key=lambda r: (r[4], r[5]))
    summary.rows_in_warehouse = present
    summary.rows_rejected = len(rejected)
    summary.rows_unaccounted = len(ids) - present - len(rejected)
    counts = Counter(r[1] for r in rejected)
    summary.rejected_reasons = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    summary.rejected_examples = [
        {"event_id": str(r[0]), "reason_code": r[1], "field": r[2], "reason": r[3], "object_key": r[4],
         "line_no": r[5]} for r in rejected[:EXAMPLES]]
    if summary.rows_unaccounted:
        summary.status = "incomplete"
        summary.message = ("rows neither in the warehouse nor rejected: see etl_object_ledger and etl_runs for"
                           f" {summary.prefix}, then run the import again")
    else:
        summary.status = "succeeded"


def _quietly_rollback(connection: Any) -> None:
    # Ends the read snapshot on a caller's connection (only a warning when it has ended already).
    with contextlib.suppress(Exception):
        connection.run("ROLLBACK")


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _quietly_close(connection: Any) -> None:
    # The connection may be broken already; the error that broke it is the one that matters.
    with contextlib.suppress(Exception):
        connection.close()


# --- the command line --------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    from etl.db import SSL_MODES

    p = argparse.ArgumentParser(
        prog="import_seed_dw.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Import a seed deployment's warehouse table (SBW-Cloudworks ClickStream.Lambda) into this "
                    "warehouse: its rows become raw objects under events/import/seed-dw/<table>/ in the "
                    "seed_legacy dialect, and the ETL loads them in this process. Idempotent.",
        epilog="The seed's password comes from $SEED_PG_PASSWORD or --source-password-file. The summary is one "
               "line on stderr and JSON on stdout (stderr when it did not succeed). Exit status: 0 done "
               "(rejected rows are reported, not an error), 1 the ETL run failed, was skipped or rows are "
               "unaccounted for, 2 bad arguments or configuration, 3 the seed's database, the raw bucket or "
               "the warehouse unreachable.")
    p.add_argument("--source-host", required=True, help="the seed's PostgreSQL host")
    p.add_argument("--source-port", type=int, default=5432, help="its port (default 5432)")
    p.add_argument("--source-user", required=True, help="a user that may SELECT the table")
    p.add_argument("--source-database", required=True, help="the seed's database")
    p.add_argument("--source-table", default=DEFAULT_TABLE,
                   help="the seed's table, its TARGET_TABLE (default clickstream_events); schema.table accepted")
    p.add_argument("--source-password-file", help="read the seed user's password from this file "
                                                  "(else $SEED_PG_PASSWORD)")
    p.add_argument("--source-sslmode", choices=SSL_MODES, default="verify-full",
                   help="TLS to the seed's PostgreSQL, as DW_PG_SSL: disable, require (no certificate check) or "
                        "verify-full (default)")
    p.add_argument("--source-ssl-root-cert", help="CA bundle for verify-full (default: the system's)")
    p.add_argument("--env-file", help="the ETL's settings (RAW_BUCKET_NAME, DW_PG_*, AWS_*, ETL_*) as KEY=VALUE "
                                      "lines, as for invoke_etl.py; the environment otherwise")
    p.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE,
                   help=f"rows per keyset page and per new object (default {DEFAULT_PAGE_SIZE:,})")
    p.add_argument("--reprocess", action="store_true",
                   help="have the ETL read every object of the import again and replace the rows loaded from them")
    p.add_argument("--dry-run", action="store_true",
                   help="read the table and say which objects would be written; write and load nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None, s3: Any = None) -> int:
    from toolkit.etl.invoke import environment

    args = parser().parse_args(argv)
    try:
        env = environment(args.env_file)
    except OSError as exc:
        return _refused(f"--env-file: {exc}")
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})  # boto3 reads os.environ
    password = env.get("SEED_PG_PASSWORD") or None
    if args.source_password_file:
        try:
            password = Path(args.source_password_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            return _refused(f"--source-password-file: {exc.strerror or exc}")

    from etl.settings import ConfigurationError, Settings

    try:
        settings = Settings.from_env(env)
        table_name(args.source_table)
    except (ConfigurationError, SeedImportError) as exc:
        return _refused(str(exc))
    if not 1 <= args.source_port <= 65535:
        return _refused("--source-port must be between 1 and 65535")
    source = SeedSource(host=args.source_host, port=args.source_port, user=args.source_user,
                        database=args.source_database, password=password, table=args.source_table,
                        sslmode=args.source_sslmode, root_cert=args.source_ssl_root_cert)
    show = not args.no_progress and sys.stderr.isatty()
    try:
        if show:
            summary = _with_progress(lambda progress: import_table(
                source, settings, s3, args.page_size, args.dry_run, progress, reprocess=args.reprocess))
        else:
            summary = import_table(source, settings, s3, args.page_size, args.dry_run, reprocess=args.reprocess)
    except SeedImportError as exc:
        status = "refused" if exc.exit_code == EXIT_CONFIG else "failed"
        print(json.dumps({"status": status, "error": str(exc)}, indent=2), file=sys.stderr)
        return exc.exit_code
    code = EXIT_OK if summary.status in ("succeeded", "dry_run") else EXIT_FAILED
    print(summary.line(), file=sys.stderr)
    print(json.dumps(summary.as_dict(), indent=2, default=str), file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


def _refused(message: str) -> int:
    print(json.dumps({"status": "refused", "error": message}, indent=2), file=sys.stderr)
    return EXIT_CONFIG


def _with_progress(body: Callable[[Progress], ImportSummary]) -> ImportSummary:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[unit]}"), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int | None, detail: int) -> None:
            unit = f"rows · {detail:,} objects written" if phase == "read" else f"objects · {detail:,} events loaded"
            if phase not in tasks:
                tasks[phase] = bar.add_task("seed rows" if phase == "read" else "ETL", total=total, unit=unit)
            bar.update(tasks[phase], completed=done, total=total, unit=unit)

        return body(progress)
