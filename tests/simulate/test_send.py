"""Delivery over real HTTP: retries for 429/5xx/network errors, splits on 413, no retry on other 4xx."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolkit.simulate.model import Batch
from toolkit.simulate.send import FileSink, HttpSink, RateLimiter, RetryPolicy, run


class Scripted:
    """A real HTTP server answering from a script: (status, headers, body) or "drop" (close the socket)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                payload = json.loads(body)
                outer.requests.append({"headers": dict(self.headers), "events": payload["events"]})
                step = outer.script.pop(0) if outer.script else (200, {}, None)
                if step == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                status, headers, reply = step
                if reply is None:
                    reply = {"accepted": len(payload["events"]), "rejected": []}
                data = json.dumps(reply).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/clickstream"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def batch(n: int = 4, skew_ms: int = 0) -> Batch:
    events = [{"eventName": "page_view", "eventId": f"00000000-0000-4000-8000-{i:012d}", "clientId": "c1",
               "sessionId": "s1", "clientTimestamp": 1_700_000_000_000 + i} for i in range(n)]
    return Batch(send_at=1_700_000_001.0, events=events, client_id="c1", user_agent="UA/1.0", source_ip="192.0.2.1",
                 skew_ms=skew_ms, seq=1)


def policy(sleeps: list[float], attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts, base_s=0.5, max_s=8, sleep=sleeps.append)


def test_retries_5xx_and_429_honouring_retry_after_then_succeeds():
    sleeps: list[float] = []
    script = [(503, {"retry-after": "2"}, {"error": "storage_unavailable"}), (429, {}, {"error": "slow down"}),
              (200, {}, None)]
    with Scripted(script) as server:
        clock = iter([1000.0, 1002.5, 1004.0])
        sink = HttpSink(server.url, retry=policy(sleeps), clock=lambda: next(clock))
        result = sink.deliver(batch(skew_ms=-1500))
        sink.close()
    assert result.status == 200 and result.accepted == 4 and result.failed == 0 and result.retries == 2
    assert sleeps[0] == 2.0 and 0.5 <= sleeps[1] <= 1.0  # Retry-After, then jittered backoff
    # Every attempt re-stamps sentAt by the (skewed) client clock, like the tracker.
    assert [r["events"][0]["sentAt"] for r in server.requests] == [998_500, 1_001_000, 1_002_500]
    assert {r["headers"]["user-agent"] for r in server.requests} == {"UA/1.0"}


def test_network_errors_are_retried_and_the_connection_replaced():
    sleeps: list[float] = []
    with Scripted(["drop", (200, {}, None)]) as server:
        sink = HttpSink(server.url, retry=policy(sleeps))
        result = sink.deliver(batch())
        again = sink.deliver(batch())
        sink.close()
    assert result.accepted == 4 and result.retries == 1 and again.accepted == 4
    assert len(server.requests) == 3


def test_other_4xx_is_not_retried():
    sleeps: list[float] = []
    reply = {"error": "no_valid_events", "accepted": 0, "rejected": [{"index": 0, "code": "missing_field"}]}
    with Scripted([(400, {}, reply)]) as server:
        sink = HttpSink(server.url, retry=policy(sleeps))
        result = sink.deliver(batch(1))
        sink.close()
    assert result.status == 400 and result.failed == 1 and result.retries == 0 and sleeps == []
    assert result.rejected == reply["rejected"] and "no_valid_events" in result.error


def test_gives_up_after_max_attempts():
    sleeps: list[float] = []
    with Scripted([(500, {}, {"error": "boom"})] * 3) as server:
        sink = HttpSink(server.url, retry=policy(sleeps, attempts=3))
        result = sink.deliver(batch())
        sink.close()
    assert result.failed == 4 and result.accepted == 0 and len(sleeps) == 2 and len(server.requests) == 3


def test_too_large_splits_the_batch_and_gzip_is_sent_as_content_encoding():
    with Scripted([(413, {}, {"error": "too_many_events"})]) as server:
        sink = HttpSink(server.url, compress=True, retry=policy([]), origin="https://shop.example")
        result = sink.deliver(batch(4))
        sink.close()
    assert result.accepted == 4 and result.failed == 0
    assert [len(r["events"]) for r in server.requests] == [4, 2, 2]
    assert server.requests[0]["headers"]["content-encoding"] == "gzip"
    assert server.requests[0]["headers"]["origin"] == "https://shop.example"


def test_rate_limiter_spaces_events_out():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    limiter = RateLimiter(100, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        limiter.take(10)
    assert now[0] == pytest.approx(2.0, abs=0.05)  # 300 events at 100/s, 1 s of burst allowed


def test_run_holds_live_batches_until_their_send_time(tmp_path):
    now = [100.0]

    def sleep(s):
        now[0] += s

    batches = []
    for i, at in enumerate((90.0, 100.0, 130.0, 160.0)):
        b = batch(2)
        b.send_at, b.seq = at, i
        batches.append(b)
    out = (tmp_path / "out.ndjson").open("w")
    stats = run(batches, FileSink(out), concurrency=1, clock=lambda: now[0], sleep=sleep)
    out.close()
    assert now[0] == 160.0  # waited for the last one, not longer
    assert stats.batches == 4 and stats.events == 8 and stats.accepted == 8
    lines = (tmp_path / "out.ndjson").read_text().splitlines()
    assert [json.loads(line)["send_at"] for line in lines] == [90.0, 100.0, 130.0, 160.0]
