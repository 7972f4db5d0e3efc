"""S3 failures: the client gets 503 + Retry-After and no accepted event is half-written."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber
from ingest.handler import handler
from ingest.storage import S3Store, make_s3_client

from tests.support.events import api_event, seed_event, tracker_event

BUCKET = "clickstream-raw-test"


def call(event, store):
    response = handler(event, None, store=store)
    return response["statusCode"], response["headers"], json.loads(response["body"])


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "AccessDenied", "ServiceUnavailable"])
def test_s3_error_after_retries_gives_503_with_retry_after(ingest_env, code):
    client = boto3.client("s3", region_name="eu-west-1")
    store = S3Store(client, BUCKET)
    with Stubber(client) as stub:
        stub.add_client_error("put_object", service_error_code=code, http_status_code=503,
                              expected_params={"Bucket": BUCKET, "Key": ANY, "Body": ANY,
                                               "ContentType": "application/x-ndjson", "Metadata": ANY})
        status, headers, body = call(api_event(seed_event()), store)
        stub.assert_no_pending_responses()
    assert status == 503
    assert headers["retry-after"] == "2"
    assert body["error"] == "storage_unavailable"


def test_failure_of_the_valid_write_after_the_invalid_one_still_retries_whole_request(ingest_env):
    client = boto3.client("s3", region_name="eu-west-1")
    with Stubber(client) as stub:
        stub.add_response("put_object", {"ETag": '"1"'})  # invalid/ record written first
        stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
        status, _, _ = call(api_event([tracker_event(), {"bad": 1}]), S3Store(client, BUCKET))
        stub.assert_no_pending_responses()
    assert status == 503  # nothing accepted was stored, so the client's retry cannot duplicate


def test_throttling_is_retried_by_botocore_then_succeeds(ingest_env):
    """Real botocore retry loop: the first two attempts get 503 SlowDown, the third succeeds."""
    client = make_s3_client(max_attempts=3)
    attempts = []

    def flaky_transport(request, **_):
        attempts.append(request.url)
        if len(attempts) <= 2:
            body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return AWSResponse(request.url, 200, {"ETag": '"abc"'}, _Raw(b""))

    client.meta.events.register("before-send.s3.PutObject", flaky_transport)
    status, _, body = call(api_event(seed_event()), S3Store(client, BUCKET))
    assert (status, body["accepted"]) == (200, 1)
    assert len(attempts) == 3


def test_retries_are_bounded_by_configuration(ingest_env):
    client = make_s3_client(max_attempts=2)
    attempts = []

    def always_throttled(request, **_):
        attempts.append(1)
        return AWSResponse(request.url, 503, {}, _Raw(b"<Error><Code>SlowDown</Code></Error>"))

    client.meta.events.register("before-send.s3.PutObject", always_throttled)
    status, headers, _ = call(api_event(seed_event()), S3Store(client, BUCKET))
    assert status == 503 and "retry-after" in headers
    assert len(attempts) == 2


class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data

    def read(self, *_):
        data, self._data = self._data, b""
        return data

