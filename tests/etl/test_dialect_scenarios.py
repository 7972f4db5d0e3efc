"""Tracker dialects through the ETL into a real warehouse, with every figure worked out by hand:
the SBW storefront's checkout, carts, clicks, categories and page loads; the seed system's raw
objects; a corrected dialect applied to data already loaded."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from clickstream_common import dialect
from etl.normalize import CUT_MARKER, DATASET_BYTES, ELEMENT_TEXT_BYTES
from etl.pipeline import RunRequest, run

from tests.etl.conftest import BUCKET, connected
from tests.support.pg import dict_rows
from tests.support.raw import DESKTOP_UA, iso, put_records, record, snapshot

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # a Monday
DAY = AT.date()
SHOP = "https://shop.example.vn"
WINDOW = RunRequest(trigger="manual", since=AT - timedelta(days=2), until=AT + timedelta(days=3))
USER = "3c1f7e9a-0b2d-4e55-8d2f-6a7b8c9d0e1f"  # a Cognito sub

FAN = {"id": "pa", "name": "Quạt", "category": "appliances", "brand": "Acme", "price": 100000, "discountPrice": 0,
       "urlPath": "/product/quat"}
KETTLE = {"id": "pb", "name": "Ấm", "category": "appliances", "brand": "Acme", "price": 50000, "discountPrice": 10,
          "urlPath": "/product/am"}
LAMP = {"id": "pc", "name": "Đèn", "category": "gadget", "brand": "Lux", "price": 20000, "discountPrice": 0,
        "urlPath": "/product/den"}


def sbw(name: str, seconds: float, path: str, client: str = "c1", session: str = "s1", user: str | None = None,
        **payload) -> dict:
    """An event as the SBW storefront's tracker builds it (no client timestamp: it sends none)."""
    event = {"eventName": name, "eventId": str(uuid.uuid4()), "pageUrl": SHOP + path, "referrer": None,
             "userId": user, "userLoginState": "logged_in" if user else "anonymous", "clientId": client,
             "sessionId": session, "isFirstVisit": False, **payload}
    return {"event": event, "at": AT + timedelta(seconds=seconds)}


def put(s3, events: list[dict], dialect_name: str | None = "sbw_nextjs") -> str:
    """Each event received when it happened (one POST each), all in one raw object."""
    records = [record(e["event"], e["at"], DESKTOP_UA, dialect=dialect_name) for e in events]
    return put_records(s3, BUCKET, records, max(e["at"] for e in events))


def dataset(**values: str) -> dict:
    return {"dataset": values}


def shopper() -> list[dict]:
    """Lands on home, browses a category and three products, fills the cart (the lamp is taken
    out again with its trash icon), signs in, checks out, and adds the fan once more after."""
    return [
        sbw("page_view", 0, "/"),
        sbw("home_view", 1, "/"),
        sbw("click", 30, "/", element={"tag": "a", "role": None, "text": "Gia dụng", "dataset": {"nav": "category"}}),
        sbw("category_view", 31, "/category/gia-dung", product={"category": "gia-dung", "id": "gia-dung"}),
        sbw("product_view", 60, "/product/quat", product=FAN),
        sbw("add_to_cart_click", 70, "/product/quat", product=FAN),
        sbw("product_view", 80, "/product/am", product=KETTLE),
        sbw("add_to_cart_click", 90, "/product/am", product=KETTLE),
        sbw("add_to_cart_click", 95, "/product/am", product=KETTLE),
        sbw("product_view", 100, "/product/den", product=LAMP),
        sbw("add_to_cart_click", 110, "/product/den", product=LAMP),
        sbw("wishlist_toggle", 112, "/product/den", product=LAMP, element=dataset(toggledOn="true")),
        sbw("wishlist_toggle", 113, "/product/den", product=LAMP, element=dataset(toggledOn="false")),
        sbw("remove_from_cart_click", 120, "/cart", product=LAMP, user=USER),
        sbw("checkout_start", 130, "/cart", user=USER,
            element=dataset(cartId="", total="200000", itemCount="2")),
        sbw("checkout_complete", 140, "/cart", user=USER,
            element=dataset(orderId="", orderNumber="", total="200000")),
        sbw("add_to_cart_click", 200, "/product/quat", product=FAN, user=USER),
    ]


def bouncer() -> list[dict]:
    return [sbw("page_view", 500, "/", client="c2", session="s2"),
            sbw("home_view", 501, "/", client="c2", session="s2")]


def test_an_sbw_shopper_from_page_load_to_purchase(raw_s3, warehouse):
    put(raw_s3, shopper() + bouncer())
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.events_loaded, summary.events_rejected) == (19, 0)
    with connected(warehouse) as conn:
        (session,) = dict_rows(conn, "SELECT * FROM clickstream_sessions WHERE session_id = 's1'")
        # page_view + home_view of "/" are one page load; the category and each product page one each.
        assert (session["page_view_count"], session["is_bounce"]) == (5, False)
        assert (session["funnel_stage_name"], session["purchases"], session["revenue"]) == ("purchase", 1, 200000)
        assert (session["has_cart"], session["cart_abandoned"]) == (True, True)  # the fan went in again
        assert (session["user_id"], session["login_state"]) == (USER, "logged_in")
        (bounce,) = dict_rows(conn, "SELECT * FROM clickstream_sessions WHERE session_id = 's2'")
        assert (bounce["page_view_count"], bounce["is_bounce"], bounce["has_cart"]) == (1, True, False)

        events = {e["event_name"] + str(i): e for i, e in enumerate(dict_rows(
            conn, "SELECT * FROM clickstream_events WHERE session_id = 's1' ORDER BY event_timestamp"))}
        purchase = events["checkout_complete15"]
        assert (purchase["event_type"], purchase["value"], purchase["currency"], purchase["transaction_id"]) == (
            "purchase", 200000, "VND", None)
        assert (purchase["identity_source"], purchase["element_dataset"]) == (
            "cognito", {"orderId": "", "orderNumber": "", "total": "200000"})
        assert events["page_view0"]["identity_source"] is None
        category = events["category_view3"]
        assert (category["event_type"], category["product_id"], category["item_list_id"]) == (
            "view_item_list", None, "gia-dung")
        click = events["click2"]
        assert (click["element_tag"], click["element_text"], click["element_role"], click["element_dataset"]) == (
            "a", "Gia dụng", None, {"nav": "category"})
        assert [events[k]["event_type"] for k in ("wishlist_toggle11", "wishlist_toggle12")] == [
            "add_to_wishlist", "remove_from_wishlist"]
        kettle = events["product_view6"]
        assert (kettle["product_price"], kettle["product_discount_price"]) == (55556, 50000)  # 10 % off 55,556
        assert {e["dialect"] for e in events.values()} == {"sbw_nextjs"}
        assert [(e["page_role"]) for e in list(events.values())[:5]] == [
            "view", "impression", None, "impression", "impression"]

        products = {r["product_id"]: r for r in dict_rows(
            conn, "SELECT product_id, sum(views) AS views, sum(add_to_carts) AS add_to_carts, sum(purchases) AS"
                  " purchases, sum(quantity_purchased) AS quantity_purchased, sum(revenue) AS revenue"
                  " FROM agg_daily_product_engagement GROUP BY product_id")}
        # The checkout named no product: the cart did. Fan x1 (100,000) and kettle x2 at its price
        # paid (2 x 50,000); the lamp was taken out. The order's 200,000 is shared by cart amount.
        assert products["pa"] == {"product_id": "pa", "views": 1, "add_to_carts": 2, "purchases": 1,
                                  "quantity_purchased": 1, "revenue": 100000}
        assert products["pb"] == {"product_id": "pb", "views": 1, "add_to_carts": 2, "purchases": 1,
                                  "quantity_purchased": 2, "revenue": 100000}
        assert products["pc"] == {"product_id": "pc", "views": 1, "add_to_carts": 1, "purchases": 0,
                                  "quantity_purchased": 0, "revenue": 0}
        assert "gia-dung" not in products

        (funnel,) = dict_rows(conn, "SELECT sum(sessions) AS sessions, sum(cart_sessions) AS carts,"
                               " sum(abandoned_cart_sessions) AS abandoned, sum(bounced_sessions) AS bounces,"
                               " sum(revenue) AS revenue FROM agg_daily_funnel")
        assert funnel == {"sessions": 2, "carts": 1, "abandoned": 1, "bounces": 1, "revenue": 200000}
        assert dict_rows(conn, "SELECT page_path, element_tag, element_id, element_text, clicks, sessions"
                          " FROM agg_daily_element_clicks") == [
            {"page_path": "/", "element_tag": "a", "element_id": "", "element_text": "Gia dụng", "clicks": 1,
             "sessions": 1}]


def test_the_cart_empties_at_each_purchase_and_a_removal_takes_what_it_says(raw_s3, warehouse):
    put(raw_s3, [
        sbw("add_to_cart_click", 0, "/p", product=FAN),
        sbw("checkout_complete", 10, "/cart", element=dataset(total="100000")),
        # after the first order: the cart starts empty
        sbw("add_to_cart_click", 20, "/p", product=LAMP),
        sbw("add_to_cart_click", 21, "/p", product=LAMP),
        sbw("add_to_cart_click", 22, "/p", product=LAMP),
        sbw("remove_from_cart_click", 23, "/cart", product=LAMP, quantity=1),
        sbw("checkout_complete", 30, "/cart", element=dataset(total="40000")),
    ])
    run(warehouse, WINDOW, s3=raw_s3)
    with connected(warehouse) as conn:
        products = {r["product_id"]: (r["purchases"], r["quantity_purchased"], r["revenue"]) for r in dict_rows(
            conn, "SELECT product_id, purchases, quantity_purchased, revenue FROM agg_daily_product_engagement")}
        assert products == {"pa": (1, 1, 100000), "pc": (1, 2, 40000)}
        (session,) = dict_rows(conn, "SELECT has_cart, cart_abandoned, revenue FROM clickstream_sessions")
        assert (session["has_cart"], session["cart_abandoned"], session["revenue"]) == (True, False, 140000)


def test_a_cart_event_arriving_late_reaches_the_next_day_s_purchase(raw_s3, new_warehouse):
    """The fan goes into the cart at 23:50 and is bought at 00:10, but the add reaches the
    warehouse only after the purchase did: the purchase's day is derived again, and the tables
    end as if both had come at once."""
    midnight = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC)
    add = {"event": sbw("add_to_cart_click", 0, "/p", product=FAN)["event"], "at": midnight - timedelta(minutes=10)}
    buy = {"event": sbw("checkout_complete", 0, "/cart", element=dataset(total="100000"))["event"],
           "at": midnight + timedelta(minutes=10)}
    late = midnight + timedelta(minutes=20)
    window = RunRequest(trigger="manual", since=AT, until=late + timedelta(hours=1))

    at_once = new_warehouse()
    bucket_a = f"{BUCKET}-once"
    raw_s3.create_bucket(Bucket=bucket_a, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for event in (add, buy):
        put_records(raw_s3, bucket_a, [record(event["event"], event["at"], dialect="sbw_nextjs")], event["at"])
    run(replace(at_once, bucket=bucket_a), window, s3=raw_s3)

    spread = new_warehouse()
    put_records(raw_s3, BUCKET, [record(buy["event"], buy["at"], dialect="sbw_nextjs")], buy["at"])
    run(spread, window, s3=raw_s3)
    with connected(spread) as conn:
        assert conn.run("SELECT count(*) FROM agg_daily_product_engagement WHERE purchases > 0") == [[0]]
    # The add, sent at 23:50 by a client that was offline, received at 00:20.
    put_records(raw_s3, BUCKET, [record({**add["event"], "clientTimestamp": iso(add["at"]), "sentAt": iso(late)},
                                        late, dialect="sbw_nextjs")], late)
    run(spread, window, s3=raw_s3)
    with connected(at_once) as a, connected(spread) as b:
        assert snapshot(b, ("products", "sessions", "funnel")) == snapshot(a, ("products", "sessions", "funnel"))
        assert b.run("SELECT activity_date, purchases, revenue FROM agg_daily_product_engagement"
                     " WHERE purchases > 0") == [[midnight.date(), 1, Decimal("100000")]]


# --- a corrected dialect, applied to data already loaded -----------------------------------------

@pytest.fixture
def dialects_from(tmp_path, monkeypatch):
    """Make the process load dialects from a copy; ``edit(name, change)`` replaces a dialect
    with the shipped one as ``change`` alters it."""
    shipped = dialect.DIALECTS_DIR
    for path in shipped.glob("*.json"):
        shutil.copy(path, tmp_path)
    monkeypatch.setattr(dialect, "DIALECTS_DIR", tmp_path)
    monkeypatch.setattr(dialect, "_loaded", {})

    def edit(name: str, change) -> None:
        data = json.loads((shipped / f"{name}.json").read_text())
        change(data)
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
        dialect._loaded.clear()

    return edit


def test_reprocessing_applies_a_corrected_dialect_to_what_was_loaded(raw_s3, warehouse, dialects_from):
    # A dialect that does not yet know where the SBW checkout keeps its total.
    dialects_from("sbw_nextjs", lambda d: d.update(rules=[r for r in d["rules"] if r.get("set") != "value"]))
    put(raw_s3, [sbw("page_view", 0, "/cart"),
                 sbw("checkout_complete", 10, "/cart", element=dataset(orderId="", orderNumber="", total="179100"))])
    run(warehouse, WINDOW, s3=raw_s3)
    revenue = "SELECT (SELECT revenue FROM clickstream_sessions), (SELECT sum(revenue) FROM agg_daily_funnel)"
    with connected(warehouse) as conn:
        assert conn.run(revenue) == [[0, 0]]

    dialects_from("sbw_nextjs", lambda d: None)  # the dialect as shipped, with its rule
    assert run(warehouse, WINDOW, s3=raw_s3).objects_new == 0  # nothing new: a plain run changes nothing
    again = run(warehouse, replace(WINDOW, reprocess=True), s3=raw_s3)
    assert (again.events_loaded, again.events_duplicate, again.events_rejected) == (2, 0, 0)
    with connected(warehouse) as conn:
        assert conn.run(revenue) == [[179100, 179100]]
        assert conn.run("SELECT count(*), count(DISTINCT event_id) FROM clickstream_events") == [[2, 2]]


def test_reprocessing_takes_out_what_a_corrected_dialect_rejects(raw_s3, warehouse, dialects_from):
    put(raw_s3, [sbw("page_view", 0, "/cart"),
                 sbw("checkout_complete", 10, "/cart", element=dataset(total="1.5"))])
    run(warehouse, WINDOW, s3=raw_s3)
    # The store writes amounts with a decimal comma after all: "1.5" is not one of its amounts.
    dialects_from("sbw_nextjs", lambda d: d.update(decimal_mark=","))
    again = run(warehouse, replace(WINDOW, reprocess=True), s3=raw_s3)
    assert (again.events_loaded, again.events_rejected) == (1, 1)
    with connected(warehouse) as conn:
        assert conn.run("SELECT event_type FROM clickstream_events") == [["page_view"]]
        assert conn.run("SELECT reason_code, field FROM etl_rejected_events") == [["bad_amount",
                                                                                  "element.dataset.total"]]
        assert conn.run("SELECT funnel_stage, purchases, revenue FROM clickstream_sessions") == [[0, 0, 0]]
        assert conn.run("SELECT count(*) FROM clickstream_event_ids") == [[1]]
    # Back to the shipped dialect: the line is good again, and its rejection goes.
    dialects_from("sbw_nextjs", lambda d: d.update(decimal_mark="."))
    run(warehouse, replace(WINDOW, reprocess=True), s3=raw_s3)
    with connected(warehouse) as conn:
        assert conn.run("SELECT count(*) FROM etl_rejected_events") == [[0]]
        assert conn.run("SELECT purchases, revenue FROM clickstream_sessions") == [[1, Decimal("1.5")]]


def test_an_unknown_dialect_is_a_rejection_with_its_reason(raw_s3, warehouse):
    event = sbw("page_view", 0, "/")
    line = record(event["event"], event["at"], dialect="sbw_nextjs")
    line["_ingest"]["dialect"] = "shopify_v2"
    put_records(raw_s3, BUCKET, [line], event["at"])
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.events_loaded, summary.events_rejected) == (0, 1)
    with connected(warehouse) as conn:
        assert conn.run("SELECT reason_code, field FROM etl_rejected_events") == [
            ["unknown_dialect", "_ingest.dialect"]]


# --- the seed system's raw objects -----------------------------------------------------------------

def put_seed_object(s3, body: dict, received: datetime) -> str:
    """What the seed's ingest wrote: one event per events/YYYY/MM/DD/HH/event-<uuid>.json."""
    key = f"events/{received:%Y/%m/%d/%H}/event-{uuid.uuid4()}.json"
    body = {**body, "_ingest": {"receivedAt": iso(received), "sourceIp": "198.51.100.77", "userAgent": DESKTOP_UA,
                                "method": "POST", "path": "/clickstream", "requestId": "r", "apiId": "a",
                                "stage": "$default"}}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body, indent=2).encode())
    return key


SEED_SHAPES = [
    {"eventName": "product_view", "eventId": str(uuid.uuid4()), "clientId": "c9", "sessionId": "s9",
     "pageUrl": SHOP + "/product/quat", "product": {**FAN, "discountPrice": 10}},
    {"event_name": "product_view", "event_id": str(uuid.uuid4()), "client_id": "c9", "session_id": "s9",
     "context_product": {"product_id": "pa", "product_name": "Quạt", "product_category": "appliances",
                         "product_brand": "Acme", "product_price": "100000", "product_discount_price": "10",
                         "product_url_path": "/product/quat"}},
    {"eventName": "add_to_cart_click", "eventId": str(uuid.uuid4()), "clientId": "c9", "sessionId": "s9",
     "context_product": {"id": "pa", "name": "Quạt", "category": "appliances", "brandName": "Acme",
                         "price": 100000, "discountPrice": 10, "urlPath": "/product/quat"}},
    {"eventName": "product_view", "clientId": "c9", "sessionId": "s9", "identitySource": "clerk_google",
     "userId": "u9", "eventTimestamp": iso(AT + timedelta(minutes=2)),
     "product": {"product_id": "pa", "product_name": "Quạt", "category": "appliances", "product_brand": "Acme",
                 "product_price": "100000", "product_discount_price": 10, "url_path": "/product/quat"}},
]


def test_every_raw_shape_the_seed_wrote_loads_with_its_product(raw_s3, warehouse):
    keys = [put_seed_object(raw_s3, shape, AT + timedelta(minutes=i)) for i, shape in enumerate(SEED_SHAPES)]
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.events_loaded, summary.events_rejected) == (4, 0)
    with connected(warehouse) as conn:
        found = dict_rows(conn, "SELECT raw_object_key, event_type, product_id, product_name, product_category,"
                           " product_brand, product_price, product_discount_price, product_url_path, dialect,"
                           " host(ip_truncated) AS ip, identity_source, event_timestamp FROM clickstream_events")
    by_key = {r.pop("raw_object_key"): r for r in found}
    for key in keys:
        row = by_key[key]
        assert {k: row[k] for k in ("product_id", "product_name", "product_category", "product_brand",
                                    "product_price", "product_discount_price", "product_url_path", "dialect")} == {
            "product_id": "pa", "product_name": "Quạt", "product_category": "appliances", "product_brand": "Acme",
            "product_price": Decimal("111111"), "product_discount_price": Decimal("100000"),
            "product_url_path": "/product/quat", "dialect": "seed_legacy"}
        assert row["ip"] == "198.51.100.0"  # the seed kept whole addresses; the warehouse does not
    last = by_key[keys[3]]
    assert (last["identity_source"], last["event_timestamp"]) == ("clerk_google", AT + timedelta(minutes=2))


# --- what was clicked, bounded ---------------------------------------------------------------------

def test_long_element_texts_and_datasets_are_cut_with_a_marker(raw_s3, warehouse):
    long_text = "Mua ngay " * 100  # within the contract (1,024 characters), beyond what a row keeps
    big = {f"k{i}": "v" * 1000 for i in range(30)} | {"nul": "a\x00b"}
    put(raw_s3, [sbw("click", 0, "/", element={"tag": "button", "id": "i" * 900, "text": long_text, "dataset": big})],
        dialect_name="clickstream")
    summary = run(warehouse, WINDOW, s3=raw_s3)
    assert (summary.events_loaded, summary.events_rejected) == (1, 0)
    with connected(warehouse) as conn:
        ((text, element_id, data, size),) = conn.run(
            "SELECT element_text, element_id, element_dataset, octet_length(element_dataset::text)"
            " FROM clickstream_events")
    assert text.endswith(CUT_MARKER) and long_text.startswith(text[:-1]) and len(text.encode()) <= ELEMENT_TEXT_BYTES
    assert element_id.endswith(CUT_MARKER) and len(element_id.encode()) <= ELEMENT_TEXT_BYTES
    assert size <= DATASET_BYTES and data[CUT_MARKER] == "cut"
    assert data["k0"] == "v" * 199 + CUT_MARKER


def test_sessions_of_the_sbw_store_count_in_the_funnel_by_day(raw_s3, warehouse):
    put(raw_s3, shopper())
    run(warehouse, WINDOW, s3=raw_s3)
    with connected(warehouse) as conn:
        assert conn.run("SELECT session_date, cart_sessions, abandoned_cart_sessions, purchase_sessions"
                        " FROM agg_daily_funnel") == [[date(2026, 11, 9), 1, 1, 1]]
