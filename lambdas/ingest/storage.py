"""Writing one newline-delimited JSON object per request to the raw bucket."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol


class StorageError(RuntimeError):
    """S3 refused the write after the client's retries; the request may be retried as a whole."""


class ObjectStore(Protocol):
    def put(self, key: str, body: bytes, content_encoding: str | None, metadata: dict[str, str]) -> None: ...


class S3Store:
    """Puts objects with boto3; retries (standard mode) and timeouts come from the client's config."""

    def __init__(self, client: Any, bucket: str):
        self._client = client
        self._bucket = bucket

    def put(self, key: str, body: bytes, content_encoding: str | None, metadata: dict[str, str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": body,
            "ContentType": "application/x-ndjson",
            "Metadata": metadata,
        }
        if content_encoding:
            params["ContentEncoding"] = content_encoding
        try:
            self._client.put_object(**params)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"s3 put {key} failed: {exc}") from exc


def make_s3_client(max_attempts: int) -> Any:
    # boto3 is imported on first use, not at module import: it is most of a cold start.
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=2,
        read_timeout=5,
    )
    return boto3.client("s3", config=config)


def object_key(prefix: str, when: datetime, gzip_objects: bool) -> str:
    """``events/YYYY/MM/DD/HH/<UTC timestamp>-<random>.ndjson[.gz]``: hour partition of receive time."""
    stamp = when.strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"
    suffix = ".ndjson.gz" if gzip_objects else ".ndjson"
    return f"{prefix}{when:%Y/%m/%d/%H}/{stamp}-{uuid.uuid4().hex}{suffix}"


def _record_encoder() -> Callable[[Any], str]:
    # ASCII-only JSON: lone surrogates a client smuggled in cannot make the object invalid UTF-8.
    # allow_nan=False: NaN/Infinity raise rather than reach the raw zone as non-standard JSON
    # (records.sort_events refuses such events before they get here).
    encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    from json.encoder import c_encode_basestring_ascii, c_make_encoder

    if c_make_encoder is None or c_encode_basestring_ascii is None:
        return encoder.encode
    # JSONEncoder.encode builds this C encoder anew on every call; records are encoded one
    # per event, so build it once. No circular-reference markers: records come from parsed
    # JSON and cannot contain cycles (a shared markers dict could keep stale ids after an error).
    iterencode = c_make_encoder(None, encoder.default, c_encode_basestring_ascii, None, ":", ",", False, False,
                                False)
    join = "".join

    def encode_record(record: Any) -> str:
        return join(iterencode(record, 0))

    return encode_record


encode_record = _record_encoder()


def encode_lines(records: list[dict[str, Any]], gzip_objects: bool) -> bytes:
    return join_lines(list(map(encode_record, records)), gzip_objects)


def join_lines(lines: list[str], gzip_objects: bool) -> bytes:
    """Already encoded records (ASCII JSON, one per line) -> the object's bytes."""
    body = ("\n".join(lines) + "\n").encode("ascii")
    # mtime=0 keeps the bytes a pure function of the records.
    return gzip.compress(body, compresslevel=5, mtime=0) if gzip_objects else body
