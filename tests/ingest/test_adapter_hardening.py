"""The local HTTP adapter over real sockets: bursts of connections and malformed HTTP.

- 50 clients connecting at once are all accepted at once (the listen backlog holds them) and
  all answered;
- malformed framing (Content-Length, chunked coding, request line, header size) gets a 400
  (413 when too large) with a JSON body, never a dropped or hung connection.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest

from tests.ingest.conftest import object_keys, stored
from tests.support.events import seed_event, tracker_event

BODY = json.dumps(seed_event()).encode()


@pytest.fixture
def adapter(s3):
    """The adapter around the real handler, on a free loopback port, against moto S3."""
    from ingest import handler as ingest_handler

    from toolkit.local.http_adapter import make_server

    server = make_server(ingest_handler.handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], s3
    server.shutdown()
    server.server_close()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response off ``sock`` (Content-Length framed, as the adapter always sends)."""
    stream = sock.makefile("rb")
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1."), f"no response, got {status_line!r}"
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return int(status_line.split()[1]), headers, body


def exchange(port: int, raw: bytes, *, half_close: bool = False) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock)


def post(body: bytes, extra: str = "", path: str = "/clickstream") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_fifty_concurrent_connections_are_accepted_at_once_and_all_answered(adapter):
    port, s3 = adapter
    clients = 50
    start = threading.Barrier(clients)
    answers: list[object] = [None] * clients

    def client(n: int) -> None:
        start.wait()
        try:
            # Under the kernel's first SYN retransmit (1 s): a connection the backlog could not
            # hold would miss it, however fast the server's accept loop is.
            sock = socket.create_connection(("127.0.0.1", port), timeout=0.9)
        except OSError as exc:
            answers[n] = f"connect: {exc!r}"
            return
        with sock:
            sock.settimeout(30)
            try:
                sock.sendall(post(json.dumps(tracker_event(eventId=f"c-{n}")).encode()))
                answers[n] = read_response(sock)[0]
            except (OSError, AssertionError) as exc:
                answers[n] = f"exchange: {exc!r}"

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [200] * clients
    assert sorted(r["eventId"] for r in stored(s3, "events/")) == sorted(f"c-{n}" for n in range(clients))


def test_keep_alive_still_serves_several_requests_on_one_connection(adapter):
    port, _ = adapter
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(post(BODY))
            status, _, body = read_response(sock)
            assert (status, json.loads(body)["accepted"]) == (200, 1)


def test_a_chunked_body_is_read_whole(adapter):
    port, s3 = adapter
    head, tail = BODY[:20], BODY[20:]
    raw = (b"POST /clickstream HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n"
           + f"{len(head):x}\r\n".encode() + head + b"\r\n"
           + f"{len(tail):X};ext=1\r\n".encode() + tail + b"\r\n0\r\nX-Trailer: 1\r\n\r\n")
    status, _, body = exchange(port, raw)
    assert (status, json.loads(body)) == (200, {"accepted": 1, "rejected": []})
    assert len(stored(s3, "events/")) == 1


MALFORMED = [
    ("Content-Length not a number", post(BODY).replace(b"Content-Length: %d" % len(BODY), b"Content-Length: abc"),
     400, False),
    ("Content-Length negative", post(BODY).replace(b"Content-Length: %d" % len(BODY), b"Content-Length: -5"), 400,
     False),
    ("Content-Length unicode digits", post(BODY).replace(b"Content-Length: %d" % len(BODY),
                                                         "Content-Length: \u00b2".encode("latin-1")), 400, False),
    ("Content-Length conflicting", post(BODY, f"Content-Length: {len(BODY) + 1}\r\n"), 400, False),
    ("Content-Length too large", post(BODY).replace(b"Content-Length: %d" % len(BODY),
                                                    b"Content-Length: 99999999999"), 413, False),
    ("Content-Length and chunked", post(BODY, "Transfer-Encoding: chunked\r\n"), 400, False),
    ("an unknown transfer coding", b"POST /clickstream HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, False),
    ("a bad chunk size", b"POST /clickstream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
     400, False),
    ("a chunk without its CRLF", b"POST /clickstream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
     400, False),
    ("a body shorter than its Content-Length", post(BODY)[:-10], 400, True),
    ("a garbage request line", b"\x16\x03\x01\x02\x00 hello\r\n\r\n", 400, False),
    ("a bad HTTP version", b"POST /clickstream HTTP/1.1.1\r\n\r\n", 400, False),
    ("a method that is not a token", b"P\x01ST /clickstream HTTP/1.1\r\n\r\n", 400, False),
    ("a header line too long", b"POST /clickstream HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, False),
]


@pytest.mark.parametrize(("case", "raw", "status", "half_close"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_http_gets_a_json_error_and_a_closed_connection(adapter, case, raw, status, half_close):
    port, s3 = adapter
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        got, headers, body = read_response(sock)
        assert got == status, body
        assert headers["content-type"] == "application/json"
        error = json.loads(body)
        assert error["error"] and error["message"]
        # What follows a request whose framing cannot be trusted is not read as a request.
        assert headers.get("connection", "").lower() == "close"
        assert sock.recv(1) == b""
    assert object_keys(s3) == []


def test_a_method_without_a_handler_reaches_the_function(adapter):
    port, _ = adapter
    status, headers, body = exchange(port, b"PROPFIND /clickstream HTTP/1.1\r\nHost: local\r\n\r\n")
    assert (status, json.loads(body)["error"]) == (405, "method_not_allowed")
    assert headers["allow"] == "OPTIONS, POST"
