"""Sample events in every spelling the contract accepts, and API Gateway payloads around them."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def seed_http_api_event() -> dict[str, Any]:
    """The seed design's Lambda test event, verbatim."""
    return json.loads((FIXTURES / "seed_http_api_event.json").read_text())


def seed_event() -> dict[str, Any]:
    return json.loads(seed_http_api_event()["body"])


def tracker_event(**overrides: Any) -> dict[str, Any]:
    """The storefront tracker's camelCase format."""
    event = {
        "eventName": "add_to_cart_click",
        "eventId": "0b6f6c1e-2f7e-4b8a-9a4b-5d2a8e1f3c7d",
        "pageUrl": "https://shop.example.com/p/sku-42?utm_source=newsletter&utm_medium=email",
        "referrer": "https://shop.example.com/c/laptops",
        "userId": None,
        "userLoginState": "anonymous",
        "clientId": "c-7d1f",
        "sessionId": "s-9a2b",
        "isFirstVisit": True,
        "clientTimestamp": 1764081000000,
        "sentAt": "2026-11-25T14:30:02.500Z",
        "product": {"id": "sku-42", "name": "Trail Shoe", "category": "Shoes", "brand": "Peak",
                    "price": "89.90", "discountPrice": 79.9, "urlPath": "/p/sku-42"},
        "element": {"tag": "button", "id": "add", "role": "button", "text": "Add to cart",
                    "dataset": {"sku": "sku-42", "listPosition": "3"}},
    }
    event.update(overrides)
    return event


def snake_event() -> dict[str, Any]:
    return {
        "event_name": "checkout_start",
        "event_id": "evt-000123",
        "client_id": "c-1",
        "session_id": "s-1",
        "user_id": "u-1",
        "user_login_state": "logged_in",
        "is_first_visit": False,
        "page_url": "https://shop.example.com/checkout",
        "product": {"id": 7, "discount_price": None, "url_path": "/p/7"},
    }


def ga4_purchase() -> dict[str, Any]:
    return {
        "eventName": "purchase",
        "clientId": "c-2",
        "sessionId": "s-2",
        "userId": "u-2",
        "userLoginState": "logged_in",
        "transactionId": "T-1001",
        "value": 129.8,
        "currency": "EUR",
        "items": [
            {"item_id": "sku-1", "item_name": "Laptop", "item_category": "Computers", "price": 99.9, "quantity": 1},
            {"itemId": "sku-2", "itemName": "Mouse", "price": "14.95", "quantity": 2},
        ],
    }


def api_event(
    body: Any = None,
    *,
    raw_body: str | bytes | None = None,
    method: str = "POST",
    path: str = "/clickstream",
    headers: dict[str, str] | None = None,
    gzip_body: bool = False,
    base64_body: bool = False,
    source_ip: str = "198.51.100.23",
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event based on the seed's, with a JSON-encoded ``body``."""
    event = copy.deepcopy(seed_http_api_event())
    event["requestContext"]["http"].update(method=method, path=path, sourceIp=source_ip)
    event["rawPath"] = path
    event["routeKey"] = f"{method} {path}"
    if headers:
        event["headers"].update({k.lower(): v for k, v in headers.items()})
    data: bytes | str | None = raw_body if raw_body is not None else (
        None if body is None else json.dumps(body))
    if data is None:
        event.pop("body", None)
        return event
    if gzip_body:
        raw = data.encode() if isinstance(data, str) else data
        event["headers"]["content-encoding"] = "gzip"
        event["body"] = base64.b64encode(gzip.compress(raw)).decode()
        event["isBase64Encoded"] = True
    elif base64_body or isinstance(data, bytes):
        raw = data.encode() if isinstance(data, str) else data
        event["body"] = base64.b64encode(raw).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = data
        event["isBase64Encoded"] = False
    return event


def set_in_payload(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Sets ``event[path[0]][path[1]]...`` to a copy of ``value``; a missing or non-object step
    leaves the event as it is (a hostile value already sits there)."""
    target = event
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            return
        target = target[key]
    target[path[-1]] = copy.deepcopy(value)
