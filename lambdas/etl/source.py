"""The raw zone: which objects exist in a window, and their contents.

Listing is per UTC hour prefix (``events/YYYY/MM/DD/HH/``), or per day for the days a window
covers whole, and fully paginated: the seed's ETL read one unpaginated page and silently lost
every object past the first 1,000.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .load import ObjectInfo

RAW_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz", ".jsonl", ".jsonl.gz")


class SourceUnreachable(RuntimeError):
    """S3 could not be listed or read."""


# What decoding an object's bytes can raise: gzip.BadGzipFile is an OSError, a truncated
# stream an EOFError, a corrupt deflate block a zlib.error (neither of the others).
DECODE_ERRORS = (OSError, EOFError, ValueError, zlib.error)

# S3 errors that belong to one object and say nothing about S3 or the network: the object is
# skipped and ledgered with its reason, the rest of the run loads. Any other error (throttling,
# 5xx, timeouts, access denied) fails the run as before, so nothing is marked done that was not read.
UNAVAILABLE_CODES = {
    "InvalidObjectState": "archived",  # GLACIER / DEEP_ARCHIVE and not restored
    "NoSuchKey": "deleted",  # deleted between the listing and the read
    "PreconditionFailed": "changed",  # rewritten since listed: IfMatch refused the new version
}


@dataclass(frozen=True, slots=True)
class Unavailable:
    """An object S3 will not hand over as listed, for a reason of its own (UNAVAILABLE_CODES)."""

    reason: str  # archived | deleted | changed
    detail: str


def make_s3_client(max_pool: int) -> Any:
    # Imported here so that importing the handler stays cheap (cold starts).
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5, read_timeout=30,
                    max_pool_connections=max_pool)
    return boto3.client("s3", config=config)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_prefixes(since: datetime, until: datetime, root: str = "events/") -> list[str]:
    """Every hour partition that may hold objects received in [since, until)."""
    prefixes = []
    hour = floor_hour(since)
    while hour < until:
        prefixes.append(f"{root}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def list_objects(s3: Any, bucket: str, prefixes: list[str],
                 only: frozenset[str] | None = None) -> Iterator[ObjectInfo]:
    """Raw objects under the prefixes; with ``only``, just those under one of those hour prefixes."""
    from botocore.exceptions import BotoCoreError, ClientError

    paginator = s3.get_paginator("list_objects_v2")
    width = len(next(iter(only))) if only else 0
    try:
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    key = item["Key"]
                    if key.endswith(RAW_SUFFIXES) and (only is None or key[:width] in only):
                        yield ObjectInfo(key, item["ETag"].strip('"'), item["Size"], item.get("LastModified"),
                                         item.get("StorageClass"))
    except (BotoCoreError, ClientError) as exc:
        raise SourceUnreachable(f"cannot list s3://{bucket}/{prefixes[0] if prefixes else ''}: {exc}") from exc


def window_prefixes(since: datetime, until: datetime, root: str = "events/") -> list[str]:
    """The fewest prefixes that list ``hour_prefixes``: a day the window covers whole is one
    listing, not 24 (a 90-day backfill makes 90 requests instead of 2,160)."""
    days: dict[str, list[str]] = {}
    for prefix in hour_prefixes(since, until, root):
        days.setdefault(prefix[:-3], []).append(prefix)
    out: list[str] = []
    for day, hours in days.items():
        out.extend([day] if len(hours) == 24 else hours)
    return out


def list_window(s3: Any, bucket: str, since: datetime, until: datetime, root: str = "events/") -> Iterator[ObjectInfo]:
    """Every raw object under the hour prefixes of [since, until)."""
    hours = hour_prefixes(since, until, root)
    return list_objects(s3, bucket, window_prefixes(since, until, root), frozenset(hours) if hours else None)


def decode(key: str, body: bytes) -> bytes:
    if key.endswith(".gz") or body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    return body


def fetch(s3: Any, bucket: str, info: ObjectInfo) -> bytes | Unavailable:
    """The object's decoded bytes, or why S3 will not give them (``Unavailable``).

    Raises SourceUnreachable for anything else, and lets DECODE_ERRORS through when the bytes
    arrived whole but are not what their name says (the caller rejects the object).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        # IfMatch: a key rewritten since it was listed is read as listed or not at all.
        response = s3.get_object(Bucket=bucket, Key=info.key, IfMatch=f'"{info.etag}"')
        body = response["Body"].read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = UNAVAILABLE_CODES.get(str(error.get("Code", "")))
        if reason is not None:
            return Unavailable(reason, f"{error.get('Code')}: {error.get('Message', '')}"[:500])
        raise SourceUnreachable(f"cannot read s3://{bucket}/{info.key}: {exc}") from exc
    except (BotoCoreError, OSError) as exc:
        # A body cut off in transfer is the network's fault, never the object's: not "unreadable".
        raise SourceUnreachable(f"cannot read s3://{bucket}/{info.key}: {exc}") from exc
    return decode(info.key, body)


def fetch_many(s3: Any, bucket: str, infos: list[ObjectInfo],
               pool: ThreadPoolExecutor) -> Iterator[bytes | Unavailable]:
    """Bodies in the order of ``infos``, read concurrently."""
    return pool.map(lambda info: fetch(s3, bucket, info), infos)
