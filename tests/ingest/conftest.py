from __future__ import annotations

import gzip
import json

import boto3
import pytest
from moto import mock_aws

BUCKET = "clickstream-raw-test"


@pytest.fixture
def ingest_env(monkeypatch):
    monkeypatch.setenv("RAW_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://shop.example.com, https://admin.example.com/")
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    for name in ("MAX_EVENTS_PER_REQUEST", "MAX_BODY_BYTES", "RAW_GZIP", "SOURCE_IPV4_PREFIX", "SOURCE_IPV6_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    from ingest import handler

    handler._store_cache.clear()
    yield monkeypatch
    handler._store_cache.clear()


@pytest.fixture
def s3(ingest_env):
    """A moto S3 with the raw bucket; the handler's own boto3 client talks to it."""
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def stored(client, prefix: str) -> list[dict]:
    """Every record under ``prefix``, object by object, in key order."""
    records = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            obj = client.get_object(Bucket=BUCKET, Key=item["Key"])
            body = obj["Body"].read()
            if obj.get("ContentEncoding") == "gzip":
                body = gzip.decompress(body)
            records.extend(json.loads(line) for line in body.decode().splitlines())
    return records


def object_keys(client, prefix: str = "") -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
