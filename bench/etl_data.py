"""Synthetic raw objects for the ETL benchmark: shoppers in sessions, 100-event NDJSON objects.

Records are written the way the ingest Lambda stores them (event as sent plus ``_ingest``)
but generated directly, so that making a million of them takes seconds, not minutes.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
REFERRERS = (None, "https://www.google.com/", "https://www.facebook.com/", "https://news.example.org/a")
FLOW = ("page_view", "category_view", "product_view", "add_to_cart_click", "cart_view", "checkout_start",
        "checkout_complete")
SHOP = "https://shop.example.com"


class RawObjects:
    """Deterministic stream of (key, body) raw objects; events of a session are contiguous in time."""

    def __init__(self, seed: int, start: datetime, events_per_object: int = 100, products: int = 200):
        self.rng = random.Random(seed)
        self.seed = seed
        self.start = start
        self.per_object = events_per_object
        self.products = products
        self.client = 0

    def _session(self, at: datetime) -> list[dict]:
        rng = self.rng
        self.client += 1
        client = f"c{self.client % 50_000}"
        session = f"s{self.seed}-{self.client}"  # unique per stream; clients do come back across streams
        agent = rng.choice(AGENTS)
        ref = rng.choice(REFERRERS)
        utm = "?utm_source=newsletter&utm_medium=email" if rng.random() < 0.1 else ""
        depth = min(len(FLOW), 1 + int(rng.expovariate(0.45)))
        events = []
        user = f"u{self.client % 20_000}" if rng.random() < 0.3 else None
        for step in range(depth):
            name = FLOW[step]
            for _ in range(1 if name == "checkout_complete" else rng.randint(1, 3)):
                sku = rng.randrange(self.products)
                at += timedelta(seconds=rng.randint(5, 120))
                event = {"eventName": name, "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                         "clientId": client, "sessionId": session, "pageUrl": f"{SHOP}/p/sku-{sku}{utm}",
                         "referrer": ref, "clientTimestamp": at.isoformat(), "sentAt": at.isoformat(),
                         "userLoginState": "logged_in" if user else "anonymous", "userId": user}
                if name in ("product_view", "add_to_cart_click"):
                    event["product"] = {"id": f"sku-{sku}", "name": f"Product {sku}", "category": f"cat-{sku % 12}",
                                        "brand": f"brand-{sku % 7}", "price": 10 + sku % 90}
                if name == "checkout_complete":
                    event.update(transactionId=f"T{self.seed}-{self.client}", value=10 + sku % 90, currency="EUR")
                events.append((event, agent))
        return [{**e, "_ingest": {"received_at": e["sentAt"], "request_id": "bench", "api_id": "local",
                                  "stage": "$default", "user_agent": a, "source_ip": "203.0.113.0",
                                  "event_id": e["eventId"], "contract_version": CONTRACT_VERSION}}
                for e, a in events]

    def objects(self, total_events: int) -> Iterator[tuple[str, bytes, datetime]]:
        produced = 0
        at = self.start
        pending: list[dict] = []
        while produced < total_events:
            while len(pending) < self.per_object:
                at += timedelta(milliseconds=self.rng.randint(50, 400))
                pending.extend(self._session(at))
            chunk, pending = pending[:min(self.per_object, total_events - produced)], pending[self.per_object:]
            produced += len(chunk)
            received = datetime.fromisoformat(chunk[-1]["_ingest"]["received_at"])
            key = f"events/{received:%Y/%m/%d/%H}/{received:%Y%m%dT%H%M%S%f}-{produced:09d}.ndjson"
            body = ("\n".join(json.dumps(r, separators=(",", ":")) for r in chunk) + "\n").encode()
            yield key, body, received


class MemoryS3:
    """The two S3 calls the ETL makes, served from memory (the benchmark measures the ETL, not S3)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def get_paginator(self, name: str):
        assert name == "list_objects_v2"
        store = self

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str):
                keys = sorted(k for k in store.objects if k.startswith(Prefix))
                for i in range(0, len(keys), 1000):
                    yield {"Contents": [{"Key": k, "ETag": f'"{hash(k) & 0xFFFFFFFF:08x}"',
                                         "Size": len(store.objects[k]), "LastModified": None}
                                        for k in keys[i:i + 1000]]}

        return Paginator()

    def get_object(self, Bucket: str, Key: str, IfMatch: str | None = None):
        import io

        return {"Body": io.BytesIO(self.objects[Key])}


START = datetime(2026, 9, 1, tzinfo=UTC)


def _contract_version() -> str:
    from clickstream_common import contract

    return contract.schema()["x-contract-version"]


CONTRACT_VERSION = _contract_version()
