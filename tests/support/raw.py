"""Raw-zone objects as the ingest Lambda writes them, and warehouses to load them into."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from clickstream_common import contract
from clickstream_common import dialect as dialects
from ingest.storage import encode_lines, object_key

DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
MOBILE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.4 Mobile/15E148 Safari/604.1")
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def record(event: dict[str, Any], received: datetime, user_agent: str = DESKTOP_UA,
           source_ip: str = "203.0.113.0", dialect: str | None = None) -> dict[str, Any]:
    """``event`` plus the ``_ingest`` block the ingest Lambda adds (same event_id rules);
    ``dialect``: the tracker dialect the ingest was configured with for the event's origin
    (None: a record of the ingest before dialects, which names none)."""
    normalized = dialects.get(dialect or dialects.NATIVE).validate(event).event
    meta = {"received_at": iso(received), "request_id": "req-test", "api_id": "local", "stage": "$default",
            "user_agent": user_agent, "source_ip": source_ip, "event_id": contract.event_id_for(normalized),
            "contract_version": contract.schema()["x-contract-version"]}
    if dialect is not None:
        meta["dialect"] = dialect
    if normalized.get("event_id") is not None:
        meta["client_event_id"] = normalized["event_id"]
    return {**event, "_ingest": meta}


def put_records(s3: Any, bucket: str, records: list[dict[str, Any]], received: datetime,
                key: str | None = None, gzip_objects: bool = False) -> str:
    key = key or object_key("events/", received, gzip_objects)
    s3.put_object(Bucket=bucket, Key=key, Body=encode_lines(records, gzip_objects))
    return key


def put_legacy(s3: Any, bucket: str, event: dict[str, Any], received: datetime) -> str:
    """The seed's one-event-per-object format: ``event-<uuid>.json`` with an ``_ingest`` block."""
    key = f"events/{received:%Y/%m/%d/%H}/event-{uuid.uuid4()}.json"
    body = dict(event)
    body["_ingest"] = {"receivedAt": iso(received), "requestId": "legacy", "sourceIp": "203.0.113.1",
                       "userAgent": "Mozilla/5.0"}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, indent=2).encode())
    return key


SNAPSHOT_QUERIES = {
    "events": "SELECT event_id, event_timestamp, event_type, session_group, user_id, client_id, value, channel,"
              " device_type, is_bot, raw_object_key, raw_line, page_role, dialect, element_text, element_dataset,"
              " item_list_id FROM clickstream_events ORDER BY event_id",
    "sessions": "SELECT session_key, session_group, client_id, user_id, person_key, login_state, session_start,"
                " session_end, duration_s, event_count, page_view_count, landing_page, exit_page, channel,"
                " device_type, is_bot, product_category, is_bounce, is_engaged, funnel_stage, purchases, revenue,"
                " is_first_visit, page_paths, has_cart, cart_abandoned, checkout_step, cart_removals, cart_value,"
                " event_codes, event_offsets"
                " FROM clickstream_sessions ORDER BY session_key",
    "identity": "SELECT client_id, user_id, first_login_at, first_login_event_id, last_seen_at"
                " FROM clickstream_identity_map ORDER BY client_id",
    "visitors": "SELECT person_key, first_seen_at, last_seen_at, cohort_week, first_channel, first_device_type,"
                " is_bot, sessions, first_purchase_at, orders, purchase_sessions, revenue FROM clickstream_visitors"
                " ORDER BY person_key",
    "hourly": "SELECT * FROM agg_hourly_activity ORDER BY 1, 2, 3, 4, 5, 6",
    "products": "SELECT activity_date, product_id, product_category, product_brand, device_type, channel,"
                " login_state, is_bot, product_name, views, add_to_carts, checkouts, purchases,"
                " quantity_purchased, revenue FROM agg_daily_product_engagement ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    "funnel": "SELECT session_date, channel, device_type, login_state, product_category, is_bot, sessions,"
              " view_item_sessions, add_to_cart_sessions, begin_checkout_sessions, purchase_sessions,"
              " engaged_sessions, bounced_sessions, revenue, hll_cardinality(visitors), cart_sessions,"
              " abandoned_cart_sessions, shipping_sessions, payment_sessions, cart_removals, abandoned_cart_value,"
              " new_sessions, new_purchase_sessions, new_revenue FROM agg_daily_funnel ORDER BY 1, 2, 3, 4, 5, 6",
    "clicks": "SELECT * FROM agg_daily_element_clicks ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
    "clicks_rollup": "SELECT * FROM agg_daily_element_clicks_rollup ORDER BY 1, 2, 3, 4, 5, 6",
    "purchase_currencies": "SELECT * FROM agg_daily_purchase_currencies ORDER BY 1, 2, 3",
    "entry_exit": "SELECT * FROM agg_daily_entry_exit_pages ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    "retention": "SELECT cohort_week, week_offset, channel, device_type, is_bot, cohort_size, active_visitors"
                 " FROM agg_weekly_retention ORDER BY 1, 2, 3, 4, 5",
    "transitions": "SELECT * FROM agg_page_transitions ORDER BY 1, 2, 3, 4, 5, 6, 7",
    # unique by construction, with no constraint to say so (sql/dw/history/0021)
    "repeated_transition_keys": "SELECT count(*) FROM (SELECT 1 FROM agg_page_transitions"
                                " GROUP BY session_date, from_page, to_page, device_type, channel, login_state,"
                                " is_bot HAVING count(*) > 1) repeats",
    "transitions_rollup": "SELECT * FROM agg_daily_page_transitions_rollup ORDER BY 1, 2, 3, 4",
    "attribution": "SELECT * FROM agg_daily_attribution ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
    "new_customers": "SELECT * FROM agg_daily_new_customers ORDER BY 1, 2, 3, 4, 5",
    "search": "SELECT * FROM agg_daily_search ORDER BY 1, 2, 3, 4, 5",
    "search_terms": "SELECT * FROM agg_daily_search_terms ORDER BY 1, 2, 3, 4, 5, 6",
    "rejected": "SELECT object_key, line_no, reason_code FROM etl_rejected_events ORDER BY 1, 2",
    "pending": "SELECT (SELECT count(*) FROM etl_pending_groups) + (SELECT count(*) FROM etl_pending_hours)"
               " + (SELECT count(*) FROM etl_pending_session_days) + (SELECT count(*) FROM etl_pending_transition_days)"
               " + (SELECT count(*) FROM etl_pending_visitor_sessions) + (SELECT count(*) FROM etl_work_sessions)"
               " + (SELECT count(*) FROM etl_pending_attribution_days)",
}


def snapshot(connection: Any, tables: Iterable[str] = SNAPSHOT_QUERIES) -> dict[str, list[list[Any]]]:
    """Every derived table's content, comparable across warehouses (run ids left out)."""
    return {name: connection.run(SNAPSHOT_QUERIES[name]) for name in tables}
