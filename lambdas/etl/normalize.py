"""Raw object lines -> warehouse event rows (or rejections with a reason).

Spellings go through ``clickstream_common.contract`` only; this module adds what the
warehouse derives: corrected event time, URL parts, UTM, channel, user agent, bot flag.
Rows come out as ``EventRow``s (``parse_object``), or straight as COPY text for the loader
(``parse_object_copy``, through ``copy_text``).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from clickstream_common import contract
from clickstream_common import dialect as dialects

from . import copy_text
from .page_paths import DEFAULT_RULE, PagePathRule


class EventRow(NamedTuple):
    """One row of clickstream_events, etl_run_id excluded (the loader adds it): the fields in the
    order rows are COPYed. Timestamps are datetimes, or integer microseconds since the epoch in
    rows built for COPY text (``EPOCH_MICROS_COLUMNS``)."""
    event_id: str
    event_timestamp: datetime | int
    event_name: str
    user_id: str | None
    user_login_state: str | None
    identity_source: str | None
    client_id: str | None
    session_id: str | None
    is_first_visit: bool | None
    product_id: str | None
    product_name: str | None
    product_category: str | None
    product_brand: str | None
    product_price: Decimal | None
    product_discount_price: Decimal | None
    product_url_path: str | None
    event_type: str
    received_at: datetime | int
    client_created_at: datetime | int | None
    client_sent_at: datetime | int | None
    login_state: str
    page_url: str | None
    page_path: str | None
    page_title: str | None
    referrer: str | None
    referrer_host: str | None
    channel: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    device_type: str
    browser_family: str | None
    browser_version: str | None
    os_family: str | None
    os_version: str | None
    is_bot: bool
    ip_truncated: str | None
    transaction_id: str | None
    value: Decimal | None
    currency: str | None
    quantity: int | None
    search_term: str | None
    item_list_id: str | None
    item_list_name: str | None
    element_tag: str | None
    element_id: str | None
    element_role: str | None
    element_text: str | None
    element_href: str | None
    element_dataset: str | None  # jsonb text
    page_role: str | None
    dialect: str
    session_group: str
    raw_object_key: str
    raw_line: int


# clickstream_events' columns, in the order rows are built and COPYed.
EVENT_COLUMNS: tuple[str, ...] = EventRow._fields

# clickstream_events' timestamp columns: COPY text carries them as integer microseconds since
# the epoch (the loader's staging view turns them back into timestamptz): cheaper, on both
# sides, than formatting a datetime as text and parsing it back (bench/RESULTS.md).
EPOCH_MICROS_COLUMNS = ("event_timestamp", "received_at", "client_created_at", "client_sent_at")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
FUTURE_TOLERANCE = timedelta(minutes=5)
_CONTRACT_VERSION = contract.schema()["x-contract-version"]
LOGIN_STATES = frozenset({"logged_in", "guest", "anonymous"})

_SEARCH_ENGINES = ("google.", "bing.", "duckduckgo.", "yahoo.", "baidu.", "yandex.", "ecosia.")
_SOCIAL = ("facebook.", "fb.", "instagram.", "t.co", "twitter.", "x.com", "linkedin.", "lnkd.in", "pinterest.",
           "reddit.", "tiktok.", "youtube.", "youtu.be")
_PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "sem", "paid-search"})
_SOCIAL_MEDIUMS = frozenset({"social", "paid_social", "paidsocial", "social-network", "sm"})
_BOT_HINT = re.compile(r"bot|crawl|spider|slurp|headless|phantomjs|python-requests|curl/|wget|monitor", re.I)
_DESKTOP_OS = frozenset({"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD"})
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"})


@dataclass(slots=True)
class Rejected:
    line_no: int
    code: str
    field: str | None
    reason: str
    raw_line: str
    event_id: str | None = None
    received_at: str | None = None


@dataclass(slots=True)
class ParsedObject:
    key: str
    rows: list[EventRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    lines: int = 0


@dataclass(slots=True)
class CopyObject:
    """One raw object as the loader needs it: its good rows as COPY text, its rejections."""
    key: str
    data: bytes = b""  # COPY text of the good rows: EVENT_COLUMNS (timestamps as epoch µs), etl_run_id
    rows: int = 0
    event_ids: list[str] = field(default_factory=list)  # of the rows in data, in order
    rejected: list[Rejected] = field(default_factory=list)
    lines: int = 0
    low: datetime | None = None  # event time range of the rows
    high: datetime | None = None


class BadValue(ValueError):
    def __init__(self, field_name: str, message: str, code: str = "bad_value"):
        super().__init__(message)
        self.field = field_name
        self.code = code


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _amount(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadValue(name, f"{name} must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadValue(name, f"{name} is not a number: {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise BadValue(name, f"{name} is out of range: {value!r}")
    return amount


def _quantity(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadValue("quantity", "quantity must be an integer")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadValue("quantity", f"quantity is not an integer: {value!r}") from None
    if not 0 <= number <= 1_000_000:
        raise BadValue("quantity", f"quantity is out of range: {value!r}")
    return number


# Dimension values end up in the keys of aggregate indexes, and a btree index row holds at most
# 2,704 bytes: a 4,000-character page path (the contract allows 4,096) failed the derive phase,
# run after run. Page paths and product names, categories and brands are cut to these many UTF-8
# bytes (at a character boundary); the widest index row they make is then ~2,400 bytes (product
# id, name, category and brand in agg_daily_product_engagement's covering index). page_url and
# the raw line keep the whole value.
PAGE_PATH_BYTES = 1000
PRODUCT_TEXT_BYTES = 600

_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """``text`` in UTF-8, with any lone UTF-16 surrogate as U+FFFD.

    JSON can spell one ("\\ud800") and a tracker that cuts a title in the middle of an emoji
    sends one; UTF-8 cannot hold it, and PostgreSQL would refuse the batch. Undecodable bytes
    in an object become U+FFFD on the way in, so this is the same rule on the way out."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def capped(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, at a character boundary."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes in UTF-8
        return text
    data = utf8(text)
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _host(netloc: str) -> str | None:
    host = netloc.rsplit("@", 1)[-1].split(":", 1)[0].lower()
    return host.removeprefix("www.") or None


_DEFAULT_PATHS = DEFAULT_RULE.normalizer


@lru_cache(maxsize=65536)
def page_parts(url: str | None, paths: Callable[[str], str] = _DEFAULT_PATHS
               ) -> tuple[str | None, str | None, tuple[str | None, ...], bool]:
    """(host, path, (utm_source, utm_medium, utm_campaign, utm_term, utm_content), has paid click id).

    The path is the URL's path alone (its query and fragment never enter it) as the page path
    rule spells it: ``paths`` is a ``PagePathRule``'s normalizer (page_paths.py)."""
    if not url:
        return None, None, (None,) * 5, False
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, None, (None,) * 5, False
    utm: tuple[str | None, ...] = (None,) * 5
    paid_click = False
    if parts.query:
        query = parse_qs(parts.query)
        utm = tuple((query.get(f"utm_{k}") or [None])[0] for k in ("source", "medium", "campaign", "term", "content"))
        paid_click = "gclid" in query or "msclkid" in query
    path = parts.path or ("/" if parts.netloc else None)
    if path:
        path = paths(path)
    return (_host(parts.netloc) if parts.netloc else None, path and capped(path, PAGE_PATH_BYTES), utm,
            paid_click)


@lru_cache(maxsize=16384)
def referrer_host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    return _host(netloc) if netloc else None


@lru_cache(maxsize=4096)
def channel_for(page_host: str | None, ref_host: str | None, utm_source: str | None, utm_medium: str | None,
                paid_click: bool) -> str:
    """The traffic channel (rules in docs/warehouse.md)."""
    medium = (utm_medium or "").lower()
    if medium in _PAID_MEDIUMS or paid_click:
        return "paid_search"
    if medium == "email" or (utm_source or "").lower() in ("newsletter", "email"):
        return "email"
    if medium in _SOCIAL_MEDIUMS:
        return "social"
    if medium:
        return "referral"
    if not ref_host:
        return "direct"
    if page_host and ref_host == page_host:
        return "internal"
    if any(ref_host.startswith(p) or f".{p}" in ref_host for p in _SEARCH_ENGINES):
        return "organic_search"
    if any(ref_host == p.rstrip(".") or ref_host.startswith(p) or f".{p}" in ref_host for p in _SOCIAL):
        return "social"
    return "referral"


@lru_cache(maxsize=4096)
def user_agent_parts(user_agent: str | None) -> tuple[str, str | None, str | None, str | None, str | None, bool]:
    """(device_type, browser_family, browser_version, os_family, os_version, is_bot) by ua-parser."""
    if not user_agent:
        return "other", None, None, None, None, False
    from ua_parser import parse

    result = parse(user_agent)
    browser = result.user_agent
    os_ = result.os
    device = result.device
    is_bot = (device is not None and device.family == "Spider") or bool(_BOT_HINT.search(user_agent))
    os_family = os_.family if os_ else None
    device_family = device.family if device else ""
    brand = (device.brand or "") if device else ""
    if is_bot:
        device_type = "bot"
    elif device_family == "iPad" or "Tablet" in brand or "Tablet" in device_family or (
        os_family == "Android" and "Mobile" not in user_agent
    ):
        device_type = "tablet"
    elif os_family in _MOBILE_OS or "Mobile" in user_agent:
        device_type = "mobile"
    elif os_family in _DESKTOP_OS:
        device_type = "desktop"
    else:
        device_type = "other"

    def version(part: Any) -> str | None:
        if part is None or not part.major:
            return None
        return ".".join(p for p in (part.major, part.minor) if p)

    return (device_type, browser.family if browser else None, version(browser), os_family, version(os_), is_bot)


def legacy_event_id(object_key: str, line_no: int) -> str:
    """Stable id for a seed object line that carries none: re-runs deduplicate."""
    return contract.name_uuid(f"raw:{object_key}#{line_no}")


def event_time(received: datetime, created: datetime | None, sent: datetime | None) -> datetime:
    """Client time corrected for clock skew: received - (sent - created)."""
    if created is not None and sent is not None:
        return received - (sent - created)
    return created if created is not None else received


def _first_item(event: dict[str, Any]) -> dict[str, Any]:
    items = event.get("items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        item = items[0]
        return {"id": item.get("item_id"), "name": item.get("item_name"), "category": item.get("item_category"),
                "brand": item.get("item_brand"), "price": item.get("price"), "quantity": item.get("quantity")}
    return {}


_EVENT_TEXT = ("user_id", "client_id", "session_id", "identity_source", "page_url", "referrer", "page_title",
               "transaction_id", "search_term", "item_list_id", "item_list_name")
_PRODUCT_TEXT = ("id", "name", "category", "brand", "url_path")
_INGEST_NAMES: dict[tuple, tuple[str, ...]] = {}  # _ingest key tuple -> snake_case names


def _fold_ingest(ingest: dict[str, Any]) -> dict[str, Any]:
    """``_ingest`` with snake_case keys; its shape is the same on nearly every line: fold it once."""
    keys = tuple(ingest)
    names = _INGEST_NAMES.get(keys)
    if names is None:
        if len(_INGEST_NAMES) >= 256:  # key tuples are input: keep the cache bounded
            _INGEST_NAMES.clear()
        names = _INGEST_NAMES[keys] = tuple(contract.snake_case(k) if isinstance(k, str) else k for k in keys)
    return ingest if names == keys else dict(zip(names, ingest.values(), strict=True))


_CURRENCY = re.compile(r"[A-Za-z]{3}\Z").match
# The contract's bounds on the fields that become index keys (event_name's pattern: a letter
# and up to 63 more).
_NAME_LENGTH = 64
_ID_LENGTH = contract.schema()["definitions"]["nullable_id"]["maxLength"]
_PRODUCT_ID_LENGTH = contract.schema()["definitions"]["product_id"]["anyOf"][0]["maxLength"]


class _NotAsValidated(Exception):
    """A line that claims the ingest's contract holds a value no validated line can: see build_row."""


@lru_cache(maxsize=4096)
def _inet(address: str | None, truncate: bool = False) -> str | None:
    """``_ingest.source_ip`` when PostgreSQL's inet reads it, else None: one unreadable address
    must not fail the COPY of a whole batch. ``truncate``: the record was not stored by this
    platform's ingest (which keeps only the network, /24 or /48): the seed's ingest kept the
    whole address, which the warehouse must not."""
    if address is None or "%" in address:  # a zone index, which Python reads and inet does not
        return None
    try:
        parsed = ipaddress.ip_interface(address)
    except ValueError:
        return None
    if truncate:
        prefix = 24 if parsed.version == 4 else 48
        return str(ipaddress.ip_network(f"{parsed.ip}/{prefix}", strict=False).network_address)
    return address


def build_row(raw: dict[str, Any], key: str, line_no: int, written: datetime | None,
              late_limit: timedelta, epoch_micros: bool = False, page_path_rule: PagePathRule = DEFAULT_RULE,
              store_currency: str | None = None) -> EventRow:
    """One raw record (event + ``_ingest``) -> a row; raises ContractError or BadValue.

    ``written``: when the record's object was written (S3 LastModified), if known: the receive
    time of a record without one, and the latest a record can have been received.
    ``epoch_micros``: the ``EPOCH_MICROS_COLUMNS`` as integer microseconds since the epoch
    (for COPY text), not datetimes. ``page_path_rule``: how page paths are spelled
    (page_paths.py); ``store_currency``: the currency of an event that has an amount and names
    none (ETL_STORE_CURRENCY)."""
    return _build_row(raw, key, line_no, written, late_limit, epoch_micros, page_path_rule.normalizer,
                      store_currency)


def _build_row(raw: dict[str, Any], key: str, line_no: int, written: datetime | None, late_limit: timedelta,
               epoch_micros: bool, paths: Callable[[str], str], store_currency: str | None) -> EventRow:
    ingest_raw = raw.pop("_ingest", None)
    if ingest_raw is not None and not isinstance(ingest_raw, dict):
        raise BadValue("_ingest", "_ingest must be an object")
    ingest = _fold_ingest(ingest_raw) if ingest_raw else {}
    # The tracker dialect the record's events are in: named by the ingest that stored it, or the
    # seed system's, recognised by its shape (dialect.for_raw_record). The same mapping the
    # ingest validated the event with is applied again here, to the event as it was sent.
    name = dialects.for_raw_record(ingest_raw, key)
    try:
        dialect = dialects.get(name)
    except dialects.DialectError as exc:
        raise BadValue("_ingest.dialect", str(exc), "unknown_dialect") from None
    if ingest.get("contract_version") == _CONTRACT_VERSION and not dialect.rules:
        # The ingest validated a line of this very contract before storing it: only its spellings
        # need folding. Lines from older contracts, legacy objects and dialects that map their
        # events (cheap to validate again, and a corrected dialect may map differently) are
        # validated again. A line is only as good as whoever wrote its object, though: one that
        # claims the contract but cannot be made a row (no event name, a product that is a
        # string), or holds a value no validated line can (an id too long for an index,
        # isFirstVisit "maybe"), is validated after all. It becomes a rejection with its reason,
        # not an error that fails the run (and every run after it, since its object is never
        # ledgered) or its batch's COPY.
        try:
            event = contract.normalize_keys(raw)
            _, event_type, page_role, _ = dialect.classify(event["event_name"])
            return _event_row(event, event_type, page_role, dialect.name, ingest, key, line_no, written, late_limit,
                              epoch_micros, paths, store_currency, trusted=True)
        except (BadValue, contract.ContractError):
            raise
        except Exception:  # noqa: S110 - the line is validated below, which says what is wrong with it
            pass
    return _event_row(*dialect.validate(raw), dialect.name, ingest, key, line_no, written, late_limit, epoch_micros,
                      paths, store_currency)


# Element fields (what was clicked) are cut, never refused: a long button text must not cost
# the click. The cut ones end with a marker. Tag, id and text are keys of the clicks
# aggregate, whose index rows must stay under PostgreSQL's 2,704 bytes with a page path.
ELEMENT_TEXT_BYTES = 300
ELEMENT_HREF_BYTES = 1000
DATASET_BYTES = 2048
DATASET_VALUE_CHARS = 200
CUT_MARKER = "\u2026"


def cut(text: str | None, limit: int) -> str | None:
    """``text`` within ``limit`` UTF-8 bytes, ending in the cut marker when it was longer."""
    if text is None or len(text) * 4 <= limit or len(utf8(text)) <= limit:
        return text
    return capped(text, limit - len(CUT_MARKER.encode())) + CUT_MARKER


def _clean_json_text(text: str) -> str:
    # jsonb refuses \u0000, and a lone surrogate cannot be UTF-8: neither may fail a batch.
    return _SURROGATE.sub("\ufffd", text.replace("\x00", "\ufffd"))


def dataset_json(dataset: Any) -> str | None:
    """``element.dataset`` as jsonb text, within DATASET_BYTES: long values are cut with the
    marker, and the keys that no longer fit are left out behind a ``"\u2026": "cut"`` entry."""
    if not isinstance(dataset, dict) or not dataset:
        return None
    out: dict[str, Any] = {}
    size = 2
    for key, value in dataset.items():
        key = _clean_json_text(str(key))[:64]
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        elif value is not None and not isinstance(value, bool | int | float | str):
            value = json.dumps(value, ensure_ascii=False, default=str)
        if isinstance(value, str):
            value = _clean_json_text(value)
            if len(value) > DATASET_VALUE_CHARS:
                value = value[:DATASET_VALUE_CHARS - 1] + CUT_MARKER
        piece = len(utf8(json.dumps(key, ensure_ascii=False))) + len(utf8(json.dumps(value, ensure_ascii=False))) + 2
        if size + piece > DATASET_BYTES - 16:
            out[CUT_MARKER] = "cut"
            break
        out[key] = value
        size += piece
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


_NO_ELEMENT = (None,) * 6


def _element(element: Any) -> tuple:
    """(tag, id, role, text, href, dataset json) of an event's element, bounded."""
    if not element or not isinstance(element, dict):
        return _NO_ELEMENT
    tag, element_id, role, text, href = [_text(element.get(k)) for k in ("tag", "id", "role", "text", "href")]
    return (cut(tag, 128), cut(element_id, ELEMENT_TEXT_BYTES), cut(role, 128), cut(text, ELEMENT_TEXT_BYTES),
            cut(href, ELEMENT_HREF_BYTES), dataset_json(element.get("dataset")))


def _event_times(event: dict[str, Any], ingest: dict[str, Any], written: datetime | None,
                 late_limit: timedelta) -> tuple[datetime, datetime | None, datetime | None, datetime]:
    """(received, client created, client sent, event time) of one event, checked against when
    its object was written and the late limit."""
    received = contract.parse_timestamp(ingest.get("received_at")) or written
    if received is None:
        raise BadValue("_ingest.received_at", "no receive time in _ingest and none from the object")
    if written is not None and received - written > FUTURE_TOLERANCE:
        raise BadValue("_ingest.received_at", f"received at {received.isoformat()}, more than 5 minutes after its"
                       f" object was written ({written.isoformat()})", "future_timestamp")
    created = contract.parse_timestamp(event.get("client_timestamp"))
    sent = contract.parse_timestamp(event.get("sent_at"))
    try:
        when = event_time(received, created, sent)
    except OverflowError:
        raise BadValue("client_timestamp", "event time corrected for the client's clock is before year 1 or after"
                       " 9999", "bad_timestamp") from None
    # Differences, not received ± a limit: that could leave the calendar near year 1 or 9999.
    lead = when - received
    if lead > FUTURE_TOLERANCE:
        raise BadValue("client_timestamp", f"event time {when.isoformat()} is more than 5 minutes after receipt",
                       "future_timestamp")
    if -lead > late_limit:
        raise BadValue("client_timestamp",
                       f"event time {when.isoformat()} is older than the late limit ({late_limit}) before receipt",
                       "too_late")
    return received, created, sent, when


_new_row = tuple.__new__
_referrer_host = referrer_host  # _event_row has a local of that name


def _session_group(session_id: str | None, client_id: str | None, user_id: str | None) -> str:
    if session_id:
        return "s:" + session_id
    if client_id:
        return "c:" + client_id
    return "u:" + (user_id or "")


def _event_row(event: dict[str, Any], event_type: str, page_role: str | None, dialect: str,
               ingest: dict[str, Any], raw_object_key: str, raw_line: int, written: datetime | None,
               late_limit: timedelta, epoch_micros: bool, paths: Callable[[str], str] = _DEFAULT_PATHS,
               store_currency: str | None = None, trusted: bool = False) -> EventRow:
    """The row of one event (as its dialect mapped it): see build_row."""
    product = event.get("product") or _first_item(event)
    received, created, sent, when = _event_times(event, ingest, written, late_limit)
    event_id = ingest.get("event_id")
    if not contract.is_uuid(event_id):
        event_id = (contract.event_id_for(event) if event.get("event_id")
                    else legacy_event_id(raw_object_key, raw_line))

    # Most values are already non-empty strings (or absent): _text only for the others.
    (user_id, client_id, session_id, identity_source, page_url, referrer, page_title, transaction_id, search_term,
     item_list_id, item_list_name) = [
        v if v is None or (type(v) is str and v) else _text(v) for v in map(event.get, _EVENT_TEXT)]
    product_id, product_name, product_category, product_brand, product_url_path = [
        v if v is None or (type(v) is str and v) else _text(v) for v in map(product.get, _PRODUCT_TEXT)]
    event_name = event["event_name"]
    is_first_visit = event.get("is_first_visit")
    currency = _text(event.get("currency") or product.get("currency"))
    if trusted and (len(event_name) > _NAME_LENGTH or len(session_id or "") > _ID_LENGTH
                    or len(client_id or "") > _ID_LENGTH or len(user_id or "") > _ID_LENGTH
                    or len(product_id or "") > _PRODUCT_ID_LENGTH
                    or not (is_first_visit is None or is_first_visit is True or is_first_visit is False)
                    or (currency is not None and _CURRENCY(currency) is None)):
        raise _NotAsValidated
    if product:
        product_name, product_category, product_brand = [
            v if v is None or len(v) * 4 <= PRODUCT_TEXT_BYTES else capped(v, PRODUCT_TEXT_BYTES)
            for v in (product_name, product_category, product_brand)]
    page_host, page_path, (utm_source, utm_medium, utm_campaign, utm_term, utm_content), paid_click = page_parts(
        page_url, paths)
    referrer_host = _referrer_host(referrer)
    channel = channel_for(page_host, referrer_host, utm_source, utm_medium, paid_click)
    device_type, browser_family, browser_version, os_family, os_version, is_bot = user_agent_parts(
        _text(ingest.get("user_agent")))
    login_sent = event.get("user_login_state")
    user_login_state = _text(login_sent)
    login_state = login_sent if login_sent in LOGIN_STATES else ("logged_in" if user_id else "anonymous")
    session_group = _session_group(session_id, client_id, user_id)
    product_price = _amount(product.get("price"), "product.price")
    product_discount_price = _amount(product.get("discount_price"), "product.discount_price")
    ip_truncated = _inet(_text(ingest.get("source_ip")), "contract_version" not in ingest)
    value = _amount(event.get("value"), "value")
    # An amount without a currency is in the store's (ETL_STORE_CURRENCY); an event without an
    # amount keeps none.
    currency = currency.upper() if currency else (
        store_currency if value is not None or product_price is not None or product_discount_price is not None
        else None)
    quantity = event.get("quantity")
    quantity = _quantity(quantity if quantity is not None else product.get("quantity"))
    element_tag, element_id, element_role, element_text, element_href, element_dataset = _element(
        event.get("element"))
    if epoch_micros:
        event_timestamp, received_at = (when - _EPOCH) // _MICROSECOND, (received - _EPOCH) // _MICROSECOND
        client_created_at = None if created is None else (created - _EPOCH) // _MICROSECOND
        client_sent_at = None if sent is None else (sent - _EPOCH) // _MICROSECOND
    else:
        event_timestamp, received_at, client_created_at, client_sent_at = when, received, created, sent
    # Every field from the local variable of its name, in EventRow's order (tests/etl/test_event_row.py
    # holds the two together). By position, not keyword: binding the keywords would be a large share
    # of all the parsing (bench/RESULTS.md).
    return _new_row(EventRow, (
        event_id, event_timestamp, event_name, user_id, user_login_state, identity_source,
        client_id, session_id, is_first_visit, product_id, product_name, product_category,
        product_brand, product_price, product_discount_price, product_url_path,
        event_type, received_at, client_created_at, client_sent_at, login_state,
        page_url, page_path, page_title, referrer, referrer_host, channel,
        utm_source, utm_medium, utm_campaign, utm_term, utm_content,
        device_type, browser_family, browser_version, os_family, os_version, is_bot,
        ip_truncated, transaction_id, value, currency, quantity, search_term,
        item_list_id, item_list_name, element_tag, element_id, element_role, element_text, element_href,
        element_dataset, page_role, dialect,
        session_group, raw_object_key, raw_line,
    ))


def _records(out: ParsedObject | CopyObject, key: str, body: bytes,
             on_line: Any) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, line, decoded record) of each JSON object line; other lines become rejections."""
    text = body.decode("utf-8", errors="replace")
    # The seed's one-event objects (.json) may be pretty-printed: one event per object.
    # Lines end at "\n" only: str.splitlines would also cut at U+2028, U+0085 and others, which
    # JSON allows unescaped inside strings. A "\r" before the "\n" is JSON whitespace.
    if key.endswith(".json"):
        numbered = [(1, text)] if text.strip() else []
    else:
        numbered = [(i, line) for i, line in enumerate(text.split("\n"), start=1) if line.strip()]
    records = decode_lines([line for _, line in numbered], text) if len(numbered) > 1 else None
    for n, (index, line) in enumerate(numbered):
        out.lines += 1
        if on_line is not None:
            on_line(key, index)
        if records is not None:
            yield index, line, records[n]
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            out.rejected.append(Rejected(index, "not_json", None, f"line is not JSON: {exc}", line))
            continue
        if not isinstance(raw, dict):
            out.rejected.append(Rejected(index, "not_an_object", None, "an event must be a JSON object", line))
            continue
        yield index, line, raw


# 2**53 + 1: an integer no JSON number read as a float can equal, spelled in JSON only so.
_MARKER = 9007199254740993
_MARKER_TEXT = str(_MARKER)
_SEPARATOR = f",{_MARKER_TEXT},"


def decode_lines(lines: list[str], text: str) -> list[dict[str, Any]] | None:
    """Each line as json.loads gives it, when every line is a JSON object; else None.

    One json.loads over all the lines costs ~3.6 µs per event against ~4.9 µs line by line:
    within one call the decoder reuses the key strings it has already built. The lines are
    joined as one array with a marker number between neighbours. ``text`` (the lines and what
    lies between them) does not hold the marker's digits, and no other JSON spelling (no
    float) reads as that integer, so every marker in the result is one of those put between
    the lines. The result must be object, marker, object, ..., object: then each marker was
    read as an element of the outer array (not inside a string or a nested value of some
    line), so each line was read alone, as exactly one value, which is what json.loads(line)
    reads. Anything else (a line that is not JSON or not an object, the marker's digits
    anywhere) gives None, and the caller decodes line by line for the exact errors.
    """
    if _MARKER_TEXT in text:
        return None
    try:
        decoded = json.loads("[" + _SEPARATOR.join(lines) + "]")
    except ValueError:
        return None
    records = decoded[::2]
    if (len(decoded) != 2 * len(lines) - 1 or decoded[1::2].count(_MARKER) != len(lines) - 1
            or set(map(type, records)) != {dict}):
        return None
    return records


def _rejection(index: int, line: str, ingest: dict[str, Any], exc: Exception, raw: dict[str, Any] | None = None,
               key: str = "") -> Rejected:
    event_id = _maybe_uuid(ingest) or _row_event_id(raw, key, index)
    if isinstance(exc, contract.ContractError):
        r = exc.rejection
        return Rejected(index, r.code, r.field, r.message, line, event_id, _received(ingest))
    assert isinstance(exc, BadValue)
    return Rejected(index, exc.code, exc.field, str(exc), line, event_id, _received(ingest))


def _row_event_id(raw: dict[str, Any] | None, key: str, line_no: int) -> str | None:
    """The event_id a row of this line would have had (build_row's rule, on the line as sent),
    so that reprocessing can take a loaded row out when its line is now rejected."""
    if raw is None:
        return None
    try:
        ids = {name: raw.get(name, raw.get(camel)) for name, camel in
               (("event_id", "eventId"), ("client_id", "clientId"), ("session_id", "sessionId"),
                ("user_id", "userId"))}
        return contract.event_id_for(ids) if ids["event_id"] else legacy_event_id(key, line_no)
    except Exception:  # whatever the line holds, a rejection is still recorded
        return None


def parse_object(key: str, body: bytes, last_modified: datetime | None, late_limit: timedelta,
                 on_line: Any = None, page_path_rule: PagePathRule = DEFAULT_RULE,
                 store_currency: str | None = None) -> ParsedObject:
    """Every line of one raw object: rows for the good ones, a Rejected for each bad one."""
    out = ParsedObject(key)
    paths = page_path_rule.normalizer
    for index, line, raw in _records(out, key, body, on_line):
        ingest = raw.get("_ingest") if isinstance(raw.get("_ingest"), dict) else {}
        try:
            out.rows.append(_build_row(raw, key, index, last_modified, late_limit, False, paths, store_currency))
        except (contract.ContractError, BadValue) as exc:
            out.rejected.append(_rejection(index, line, ingest, exc, raw, key))
    return out


def parse_object_copy(key: str, body: bytes, last_modified: datetime | None, late_limit: timedelta,
                      run_id: int, on_line: Any = None, page_path_rule: PagePathRule = DEFAULT_RULE,
                      store_currency: str | None = None) -> CopyObject:
    """``parse_object`` straight to COPY text for the staging table: the rows are formatted as
    they are built and only the bytes (and what the loader needs to know about them) are kept."""
    out = CopyObject(key)
    paths = page_path_rule.normalizer
    key_plain = copy_text.needs_escape(key) is None
    tail = f"\t{run_id}\n"
    lines: list[str] = []
    ids = out.event_ids
    low = high = None
    for index, line, raw in _records(out, key, body, on_line):
        ingest = raw.get("_ingest") if isinstance(raw.get("_ingest"), dict) else {}
        try:
            row = _build_row(raw, key, index, last_modified, late_limit, True, paths, store_currency)
            lines.append(copy_line(row, key_plain and _plain_line(line, row)))
        except (contract.ContractError, BadValue) as exc:
            out.rejected.append(_rejection(index, line, ingest, exc, raw, key))
            continue
        ids.append(row.event_id)
        when = row.event_timestamp
        if low is None or when < low:
            low = when
        if high is None or when > high:
            high = when
    if lines:
        out.data = utf8(tail.join(lines) + tail)
        out.low, out.high = _EPOCH + low * _MICROSECOND, _EPOCH + high * _MICROSECOND
    out.rows = len(lines)
    return out


Item = tuple[str, datetime | None, bytes | Exception | str]  # key, last modified, body (or why it has none)


def parse_items(late_limit: timedelta, run_id: int, items: list[Item], on_line: Any = None,
                page_path_rule: PagePathRule = DEFAULT_RULE,
                store_currency: str | None = None) -> tuple[list[CopyObject], float]:
    """Raw objects -> COPY text, and the CPU seconds it took (the same in a worker process)."""
    started = time.thread_time()
    out = []
    for key, last_modified, body in items:
        if isinstance(body, bytes):
            out.append(parse_object_copy(key, body, last_modified, late_limit, run_id, on_line, page_path_rule,
                                         store_currency))
        else:
            # An object that cannot be decoded is kept as one rejection, not retried forever.
            unreadable = CopyObject(key, lines=1)
            unreadable.rejected.append(Rejected(0, "unreadable_object", None, f"object cannot be decoded: {body}",
                                                ""))
            out.append(unreadable)
    return out, time.thread_time() - started


def _plain_line(line: str, row: EventRow) -> bool:
    """Whether no field of ``row``, built from the JSON ``line`` (and a plain object key), can
    hold a tab, newline, carriage return, backslash or NUL, without looking at every field.

    JSON writes each of those inside a string as an escape, with a backslash, and json.loads
    refuses them raw: a line without a backslash has none in any of its strings. Every other
    field is derived from those strings as a part of one, or is a number, a UUID or a name
    from ua-parser's patterns; the exception is the UTM values, which are percent-decoded
    from the page URL, so a URL with a "%" takes the full check.
    """
    return "\\" not in line and "%" not in (row.page_url or "")


def copy_line(row: tuple, plain: bool = False) -> str:
    """One event row as COPY text (``copy_text.row``), without the loader's etl_run_id.

    PostgreSQL text cannot hold NUL, so a NUL anywhere would fail the whole batch's COPY: the
    event is rejected instead. ``plain``: the caller knows that no field holds a character
    that needs escaping (``_plain_line``).
    """
    try:
        return copy_text.row(row, plain)
    except copy_text.NulCharacter as exc:
        name = EVENT_COLUMNS[exc.index]
        raise BadValue(name, f"{name} contains a NUL character, which PostgreSQL text cannot store") from None


def _maybe_uuid(ingest: dict[str, Any]) -> str | None:
    value = ingest.get("event_id", ingest.get("eventId"))
    return value if contract.is_uuid(value) else None


def _received(ingest: dict[str, Any]) -> str | None:
    moment = contract.parse_timestamp(ingest.get("received_at", ingest.get("receivedAt")))
    return moment.isoformat() if moment else None
