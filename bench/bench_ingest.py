#!/usr/bin/env python3
"""Ingest throughput per core, beside the floor measured in the same run.

    .venv/bin/python bench/bench_ingest.py [--events 200000] [--repeat 5] [--dialect sbw_nextjs]

For 1-event and 100-event requests it runs the real handler (validation, enrichment,
NDJSON encoding, logging) with S3 replaced by an in-memory store, and the floor: json.loads
plus json.dumps of the same bodies. It also reports S3 PUTs per 1,000 events and the cold
import time of the handler module (median of fresh interpreters).

``--dialect sbw_nextjs``: the deployment's default dialect is the SBW storefront's, and the
events are that tracker's (its checkout, product views with a discount, clicks, page views),
so every event goes through the dialect's mapping before it is validated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lambdas"), str(REPO)]

from tests.support.events import api_event, ga4_purchase, seed_event, tracker_event  # noqa: E402


class MemoryStore:
    def __init__(self) -> None:
        self.puts = 0
        self.bytes = 0

    def put(self, key, body, content_encoding, metadata) -> None:
        self.puts += 1
        self.bytes += len(body)


def sample_events(n: int) -> list[dict]:
    makers = [tracker_event, seed_event, ga4_purchase,
              lambda: tracker_event(eventName="page_view", product=None, element=None)]
    events = []
    for i in range(n):
        event = makers[i % len(makers)]()
        if "eventId" in event:
            event["eventId"] = f"00000000-0000-4000-8000-{i:012d}"
        events.append(event)
    return events


def sbw_events(n: int) -> list[dict]:
    """The SBW storefront tracker's payloads (lib/clickstreamClient.ts, lib/clickstreamEvents.ts)."""
    base = {"pageUrl": "https://shop.example.vn/product/quat", "referrer": None, "userId": None,
            "userLoginState": "anonymous", "clientId": "a3e0c7f6-8b9d-4c1e-9f2a-1b2c3d4e5f60",
            "sessionId": "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f", "isFirstVisit": False}
    product = {"id": "cm3x1", "name": "Quạt đứng", "category": "appliances", "brand": "Acme", "price": 199000,
               "discountPrice": 10, "urlPath": "/product/quat"}
    shapes = [
        {"eventName": "page_view"},
        {"eventName": "product_view", "product": product},
        {"eventName": "click", "element": {"tag": "a", "role": None, "text": "Gia dụng", "dataset": {}}},
        {"eventName": "add_to_cart_click", "product": product},
        {"eventName": "checkout_complete", "userId": "3c1f7e9a-0b2d-4e55-8d2f-6a7b8c9d0e1f",
         "userLoginState": "logged_in", "element": {"dataset": {"orderId": "", "orderNumber": "", "total": "179100"}}},
    ]
    return [{"eventName": "", "eventId": f"00000000-0000-4000-8000-{i:012d}", **base, **shapes[i % len(shapes)]}
            for i in range(n)]


def requests_for(total_events: int, per_request: int, dialect: str = "clickstream") -> list[dict]:
    events = sbw_events(total_events) if dialect == "sbw_nextjs" else sample_events(total_events)
    return [api_event({"events": events[i:i + per_request]}) for i in range(0, total_events, per_request)]


def run_handler(payloads: list[dict]) -> tuple[float, MemoryStore]:
    from ingest.handler import handler

    store = MemoryStore()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        handler(payloads[0], None, store=store)  # warm: compile the validator once
        store.puts = store.bytes = 0
        start = time.perf_counter()
        for payload in payloads:
            response = handler(payload, None, store=store)
            assert response["statusCode"] == 200, response
        elapsed = time.perf_counter() - start
    return elapsed, store


def run_floor(payloads: list[dict]) -> float:
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    start = time.perf_counter()
    for payload in payloads:
        dumps(json.loads(payload["body"]))
    return time.perf_counter() - start


def cold_import_ms(samples: int) -> tuple[float, float]:
    """Median and minimum import time of the handler module in fresh interpreters."""
    code = "import time; t=time.perf_counter(); import ingest.handler; print((time.perf_counter()-t)*1000)"
    env = {**os.environ, "PYTHONPATH": str(REPO / "lambdas"), "PYTHONDONTWRITEBYTECODE": "0"}
    times = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  check=True).stdout) for _ in range(samples)]
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="best of N")
    parser.add_argument("--dialect", choices=("clickstream", "sbw_nextjs"), default="clickstream",
                        help="the deployment's tracker dialect, and events of that tracker")
    args = parser.parse_args()
    os.environ.setdefault("RAW_BUCKET_NAME", "bench")
    os.environ["INGEST_DIALECT"] = args.dialect

    print(f"ingest benchmark: {args.events:,} events per run, best of {args.repeat}, one core, "
          f"python {sys.version.split()[0]}, dialect {args.dialect}")
    print(f"{'request size':>14} {'handler ev/s':>14} {'floor ev/s':>12} {'handler/floor':>14} "
          f"{'PUTs/1k ev':>11} {'bytes/ev':>9}")
    for per_request in (1, 100):
        total = args.events if per_request > 1 else args.events // 4
        payloads = requests_for(total, per_request, args.dialect)
        # Handler and floor runs alternate, so a change in the machine's load hits both.
        handler_runs, floor_runs = [], []
        for _ in range(args.repeat):
            handler_runs.append(run_handler(payloads))
            floor_runs.append(run_floor(payloads))
        best_h, store = min(handler_runs, key=lambda r: r[0])
        best_f = min(floor_runs)
        print(f"{per_request:>10} ev {total / best_h:>14,.0f} {total / best_f:>12,.0f} {best_f / best_h:>14.2f} "
              f"{store.puts * 1000 / total:>11.1f} {store.bytes / total:>9.0f}")
    median, fastest = cold_import_ms(11)
    print(f"cold import of ingest.handler: {median:.1f} ms (median of 11 fresh interpreters; fastest {fastest:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
