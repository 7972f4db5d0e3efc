"""Planning simulated traffic: visitors, sessions and the tracker batches they send.

Everything here is a pure function of a ``TrafficConfig`` (seed and time window included):
one ``random.Random`` drives every choice in a fixed order, so the same config yields the
same events, ids and timestamps byte for byte. Only ``sentAt`` is left to the sender, which
stamps it when a batch actually leaves (see ``send.stamp``).

Times are planned as true UTC epoch seconds. The client's clock may be off (``skew_ms``);
``clientTimestamp`` is written by that clock, as a browser would, and ``sentAt`` will be
too, so the ETL's correction ``received - (sent - created)`` recovers the true time.
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from .catalog import Catalog, Product, load_catalog
from .profiles import (
    BOT,
    CHANNELS,
    DEVICES,
    FIRST_NAMES,
    HOURLY_WEIGHTS,
    P_ADD_TO_CART,
    P_BEGIN_CHECKOUT,
    P_PURCHASE,
    SEARCH_TERMS,
    WEEKDAY_WEIGHTS,
    Channel,
    Device,
)

DAY = 86_400.0
SESSION_TIMEOUT = 30 * 60.0  # the tracker's; gaps inside a planned session stay well below it
SHIPPING_FREE_FROM = 100.0  # storefront/checkout.html
SHIPPING_FEE = 4.99
# Share of list viewers who open a product, and of product viewers who look at another one.
P_LIST_TO_ITEM = 0.78
P_ANOTHER_PRODUCT = 0.45


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """What to simulate. ``end`` anchors the plan: history is ``[end - days, end)``, live
    traffic is ``[end, end + live_seconds)``."""

    seed: int = 1
    end: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    days: float = 0.0
    sessions_per_day: float = 400.0
    live_seconds: float = 0.0
    live_sessions_per_second: float = 0.0
    bot_share: float = 0.04
    return_share: float = 0.3  # of human sessions, by a visitor seen before
    account_share: float = 0.45  # of human visitors, who have a shop account
    login_share: float = 0.35  # of sessions of an account holder not logged in yet, who log in
    duplicate_share: float = 0.01  # of batches, sent twice (lost response, retried)
    late_share: float = 0.02  # of batches, held back (offline, beacon refused) and sent later
    max_late_seconds: float = 2 * DAY
    skew_share: float = 0.12  # of clients, whose clock is off by minutes to hours
    flush_seconds: float = 3.0  # storefront's tracker flush interval
    # "page": what the tracker does (a request per page at most, the timer and the page's hide
    # flush the queue); "session": one request per visit, fewer and bigger objects for backfills.
    batching: str = "page"
    site_url: str = "http://127.0.0.1:8080/"
    catalog_path: str | None = None

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
        for name in ("bot_share", "return_share", "account_share", "login_share", "duplicate_share",
                     "late_share", "skew_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.days < 0 or self.live_seconds < 0 or self.sessions_per_day < 0 or self.live_sessions_per_second < 0:
            raise ValueError("days, live_seconds and the session rates must not be negative")
        if self.flush_seconds <= 0:
            raise ValueError("flush_seconds must be positive")
        if self.batching not in ("page", "session"):
            raise ValueError("batching must be 'page' or 'session'")

    @property
    def start_ts(self) -> float:
        return self.end.timestamp() - self.days * DAY

    @property
    def end_ts(self) -> float:
        """The last moment of the plan: nothing is created or sent after it."""
        return self.end.timestamp() + self.live_seconds

    @property
    def history_late_limit_hours(self) -> int:
        """The ETL late limit (ETL_LATE_LIMIT_HOURS) that accepts all of this plan when it is sent
        over HTTP now: the oldest event is as old as the whole window when it goes out, plus an
        hour for the run itself. (Hold-backs do not add to it: nothing leaves after the window.)"""
        return math.ceil((self.days * DAY + self.live_seconds) / 3600) + 1


@dataclass(slots=True)
class Client:
    """One browser: what the tracker keeps in localStorage, plus its user agent and clock."""

    id: str
    device: Device
    user_agent: str
    skew_ms: int
    source_ip: str
    user_id: str | None = None
    login_state: str = "anonymous"
    first_session_id: str | None = None
    cart: list[list[Any]] = field(default_factory=list)  # [[product, quantity], ...]
    sessions: int = 0


@dataclass(slots=True)
class Visitor:
    """A person: one or more browsers, maybe a shop account."""

    account: str | None
    clients: list[Client]
    last_seen: float
    favourite: str | None = None  # a category they keep coming back for


@dataclass(slots=True)
class Batch:
    """One POST the tracker would send: events of one client, with when it leaves the browser."""

    send_at: float
    events: list[dict[str, Any]]
    client_id: str
    user_agent: str
    source_ip: str
    skew_ms: int
    kind: str = "normal"  # normal | late | duplicate
    seq: int = 0

    def __lt__(self, other: Batch) -> bool:
        return (self.send_at, self.seq) < (other.send_at, other.seq)


@dataclass(slots=True)
class SessionPlan:
    """A session's events in creation order (true times) and what it reached."""

    events: list[tuple[float, dict[str, Any]]]
    client: Client
    channel: str
    device: str
    is_bot: bool
    returning: bool
    # Page boundaries: indexes into events where a new page load starts.
    page_starts: list[int]
    exit_at: float


def _round2(x: float) -> float:
    return round(x + 1e-9, 2)


class _Shop:
    """URLs, titles and the tracker's product/item objects for the demo storefront."""

    def __init__(self, catalog: Catalog, site_url: str):
        self.catalog = catalog
        self.base = site_url if site_url.endswith("/") else site_url + "/"
        self.products = catalog.products
        self.by_category: dict[str, list[Product]] = {}
        for p in self.products:
            self.by_category.setdefault(p.category, []).append(p)
        self.categories = list(self.by_category)
        self.product_obj = {p.id: self._product(p) for p in self.products}
        self.item_obj = {p.id: self._item(p, 1) for p in self.products}
        self._lists: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @staticmethod
    def _product(p: Product) -> dict[str, Any]:
        # tracker/clickstream.js toProduct(): discountPrice is kept even when null.
        return {"id": p.id, "name": p.name, "category": p.category, "brand": p.brand, "price": p.price,
                "discountPrice": p.discount_price, "urlPath": p.url_path}

    @staticmethod
    def _item(p: Product, quantity: int, index: int | None = None) -> dict[str, Any]:
        # tracker/clickstream.js toItem()
        paid = p.unit_price
        item: dict[str, Any] = {"itemId": p.id, "itemName": p.name, "itemCategory": p.category,
                                "itemBrand": p.brand, "price": paid, "quantity": quantity}
        if p.price > paid:
            item["discount"] = _round2(p.price - paid)
        if index is not None:
            item["index"] = index
        return item

    def item(self, p: Product, quantity: int) -> dict[str, Any]:
        return self.item_obj[p.id] if quantity == 1 else self._item(p, quantity)

    def list_items(self, list_id: str, name: str, products: list[Product]) -> list[dict[str, Any]]:
        # Shared, never mutated: the same list page always shows the same items.
        key = (list_id, name)
        items = self._lists.get(key)
        if items is None:
            items = self._lists[key] = [self._item(p, 1, i) for i, p in enumerate(products[:200])]
        return items

    def search(self, term: str) -> list[Product]:
        return [p for p in self.products if term in f"{p.name} {p.brand} {p.category}".lower()]

    def url(self, page: str, query: dict[str, str] | None = None) -> str:
        return self.base + page + ("?" + urlencode(query, quote_via=quote) if query else "")


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    names = [o[0] for o in options]
    return rng.choices(names, weights=[o[1] for o in options])[0]


def _source_ip(rng: random.Random) -> str:
    # Documentation ranges only (RFC 5737 / RFC 3849): simulated, never someone's real address.
    if rng.random() < 0.65:
        net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{rng.randrange(1, 255)}"
    return f"2001:db8:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}::{rng.randrange(1, 0xFFFF):x}"


def _skew_ms(rng: random.Random, share: float) -> int:
    if rng.random() >= share:
        return int(rng.gauss(0, 800))  # NTP-synced devices: well under a few seconds
    if rng.random() < 0.7:
        return int(rng.uniform(-15, 15) * 60_000)  # a drifting clock: minutes
    # A clock set to the wrong time zone or by hand: hours either way.
    return int(rng.choice((-1, 1)) * rng.uniform(0.9, 5) * 3_600_000)


class Planner:
    """Generates sessions in time order and turns them into batches (``batches()``)."""

    def __init__(self, config: TrafficConfig, catalog: Catalog | None = None):
        self.config = config
        self.rng = random.Random(config.seed)
        # Batching and delivery troubles draw from their own stream, so the sessions are the same
        # whichever batching is chosen and ``sessions()`` lists exactly the visits ``batches()`` sends.
        self.send_rng = random.Random(f"send:{config.seed}")
        self.shop = _Shop(catalog or load_catalog(config.catalog_path or _default_catalog()), config.site_url)
        self.visitors: list[Visitor] = []
        self._seq = 0
        self._visitor_count = 0
        rng = random.Random(config.seed ^ 0x5EED)
        # Some products sell better than others, independent of the traffic's random stream.
        order = list(self.shop.products)
        rng.shuffle(order)
        self.popularity = {p.id: 1.0 / (rank + 1) ** 0.7 for rank, p in enumerate(order)}
        self._channel_weights = [c.weight for c in CHANNELS]
        self._return_weights = [c.weight * c.returning for c in CHANNELS]
        self._device_weights = [d.weight for d in DEVICES]

    # -- arrivals --------------------------------------------------------------------------
    def session_starts(self) -> Iterator[float]:
        """Start times of all sessions, ascending: history by day and hour, then live arrivals."""
        cfg, rng = self.config, self.rng
        start, end = cfg.start_ts, cfg.end.timestamp()
        day = math.floor(start / DAY) * DAY
        while day < end and cfg.days > 0:
            weekday = datetime.fromtimestamp(day, UTC).weekday()
            expected = cfg.sessions_per_day * WEEKDAY_WEIGHTS[weekday] * rng.uniform(0.9, 1.1)
            starts = []
            for _ in range(round(expected)):
                hour = rng.choices(range(24), weights=HOURLY_WEIGHTS)[0]
                starts.append(day + hour * 3600 + rng.random() * 3600)
            # Keep the daily shape exact on partial first/last days by dropping out-of-window starts.
            yield from sorted(t for t in starts if start <= t < end)
            day += DAY
        if cfg.live_seconds > 0 and cfg.live_sessions_per_second > 0:
            t = end
            while True:
                t += rng.expovariate(cfg.live_sessions_per_second)
                if t >= cfg.end_ts:
                    break
                yield t

    # -- visitors --------------------------------------------------------------------------
    def _new_client(self, device: Device | None = None) -> Client:
        rng = self.rng
        device = device or rng.choices(DEVICES, weights=self._device_weights)[0]
        return Client(id=new_uuid(rng), device=device, user_agent=rng.choice(device.user_agents),
                      skew_ms=_skew_ms(rng, self.config.skew_share), source_ip=_source_ip(rng))

    def _new_visitor(self, t: float) -> Visitor:
        rng = self.rng
        account = None
        self._visitor_count += 1
        if rng.random() < self.config.account_share:
            # The counter keeps two people from sharing an account.
            account = f"u-{rng.choice(FIRST_NAMES)}{self._visitor_count}"
        favourite = rng.choice(self.shop.categories) if rng.random() < 0.5 else None
        visitor = Visitor(account=account, clients=[self._new_client()], last_seen=t, favourite=favourite)
        self.visitors.append(visitor)
        if len(self.visitors) > 20_000:
            del self.visitors[:5_000]  # forget the oldest: bounded memory on long backfills
        return visitor

    def _returning_visitor(self, t: float) -> Visitor | None:
        rng = self.rng
        for _ in range(4):
            if not self.visitors:
                return None
            # Recent visitors come back more often than old ones.
            index = len(self.visitors) - 1 - int(rng.expovariate(1 / max(1.0, len(self.visitors) / 3)))
            if index < 0:
                continue
            visitor = self.visitors[index]
            if t - visitor.last_seen > 2 * SESSION_TIMEOUT:
                return visitor
        return None

    # -- sessions --------------------------------------------------------------------------
    def plan_session(self, t: float) -> SessionPlan:
        rng, cfg = self.rng, self.config
        if rng.random() < cfg.bot_share:
            return self._bot_session(t)
        visitor = self._returning_visitor(t) if rng.random() < cfg.return_share else None
        returning = visitor is not None
        if visitor is None:
            visitor = self._new_visitor(t)
            client = visitor.clients[0]
        elif len(visitor.clients) < 3 and rng.random() < (
                0.3 if any(c.user_id for c in visitor.clients) else 0.12):
            # Customers who signed in somewhere use more devices than anonymous browsers do.
            # The same person on another device: a new clientId the warehouse can stitch to
            # the first one when they log in.
            client = self._new_client()
            visitor.clients.append(client)
        else:
            client = visitor.clients[-1] if rng.random() < 0.8 else rng.choice(visitor.clients)
        weights = self._return_weights if returning else self._channel_weights
        channel = rng.choices(CHANNELS, weights=weights)[0]
        plan = _SessionBuilder(self, visitor, client, channel, t, returning).run()
        visitor.last_seen = plan.exit_at
        return plan

    def _bot_session(self, t: float) -> SessionPlan:
        # Crawlers that execute JavaScript: no storage kept (a fresh clientId each visit), fast,
        # breadth-first through lists and product pages, never a cart.
        rng, shop = self.rng, self.shop
        client = self._new_client(BOT)
        client.skew_ms = 0
        visitor = Visitor(account=None, clients=[client], last_seen=t)
        b = _SessionBuilder(self, visitor, client, None, t, False, bot=True)
        b.list_page("home")
        for _ in range(rng.randrange(4, 30)):
            b.wait(rng.uniform(0.4, 3.0))
            if rng.random() < 0.3:
                b.list_page("category", rng.choice(shop.categories))
            else:
                b.product_page(rng.choice(shop.products))
        b.exit_at = b.t + rng.uniform(0.5, 2.0)
        return b.plan()

    # -- batches ---------------------------------------------------------------------------
    def session_batches(self, plan: SessionPlan) -> list[Batch]:
        """Cut a session into the requests its tracker sends: one per page at most (the page's
        hide flushes the queue), or more when the flush timer fires first; purchases go at once."""
        cfg, rng = self.config, self.send_rng
        events, client = plan.events, plan.client
        if cfg.batching == "session":
            send_at = max(plan.exit_at, events[-1][0] + 0.001)
            return [self._batch(send_at, [e for _, e in events], client)]
        out: list[Batch] = []
        bounds = [*plan.page_starts, len(events)]
        for page_index in range(len(bounds) - 1):
            lo, hi = bounds[page_index], bounds[page_index + 1]
            leave = events[hi][0] - 0.05 if hi < len(events) else plan.exit_at
            first = lo
            for i in range(lo, hi):
                t_i, ev = events[i]
                last_of_page = i == hi - 1
                next_t = events[i + 1][0] if not last_of_page else None
                due = events[first][0] + cfg.flush_seconds
                if ev["eventName"] == "purchase":
                    send_at = t_i + rng.uniform(0.02, 0.3)
                elif last_of_page:
                    send_at = min(due, leave)
                elif next_t is not None and next_t > due:
                    send_at = due  # the timer fires before the next event of this page
                else:
                    continue
                send_at = max(send_at, t_i + 0.001)
                out.append(self._batch(send_at, [e for _, e in events[first:i + 1]], client))
                first = i + 1
        return out

    def _batch(self, send_at: float, events: list[dict[str, Any]], client: Client, kind: str = "normal") -> Batch:
        self._seq += 1
        return Batch(send_at=send_at, events=events, client_id=client.id, user_agent=client.user_agent,
                     source_ip=client.source_ip, skew_ms=client.skew_ms, kind=kind, seq=self._seq)

    def _disturb(self, batch: Batch) -> list[Batch]:
        """Late and duplicate sends: what real browsers do to a clean stream."""
        cfg, rng = self.config, self.send_rng
        out = [batch]
        if rng.random() < cfg.late_share:
            # Held back at least a minute (the next page load, the next visit), now and then for days.
            delay = min(cfg.max_late_seconds, 60 + rng.lognormvariate(math.log(1200), 1.5))
            batch.send_at += delay
            batch.kind = "late"
        if rng.random() < cfg.duplicate_share:
            copy = Batch(send_at=batch.send_at + rng.uniform(0.5, 20.0), events=batch.events,
                         client_id=batch.client_id, user_agent=batch.user_agent, source_ip=batch.source_ip,
                         skew_ms=batch.skew_ms, kind="duplicate", seq=0)
            self._seq += 1
            copy.seq = self._seq
            out.append(copy)
        end = cfg.end_ts
        for b in out:
            # Nothing leaves after the end of the plan: a hold-back is cut short instead.
            b.send_at = min(b.send_at, end)
        return out

    def batches(self) -> Iterator[Batch]:
        """Every batch of the plan in send order (ties by creation), generated lazily."""
        heap: list[Batch] = []
        end = self.config.end_ts
        for start in self.session_starts():
            while heap and heap[0].send_at < start:
                yield heapq.heappop(heap)
            plan = self.plan_session(start)
            plan = _clip(plan, end)
            if not plan.events:
                continue
            for batch in self.session_batches(plan):
                for b in self._disturb(batch):
                    heapq.heappush(heap, b)
        while heap:
            yield heapq.heappop(heap)

    def sessions(self) -> Iterator[SessionPlan]:
        """The plan's sessions (without batching), for inspection and tests."""
        end = self.config.end_ts
        for start in self.session_starts():
            plan = _clip(self.plan_session(start), end)
            if plan.events:
                yield plan


def _clip(plan: SessionPlan, end: float) -> SessionPlan:
    """Drop what a session would do after the end of the plan (the visitor is cut off)."""
    if plan.exit_at <= end:
        return plan
    keep = sum(1 for t, _ in plan.events if t < end)
    plan.events = plan.events[:keep]
    plan.page_starts = [i for i in plan.page_starts if i < keep]
    plan.exit_at = end
    return plan


def _default_catalog() -> str:
    from .catalog import CATALOG_PATH

    return str(CATALOG_PATH)


class _SessionBuilder:
    """Walks one visit through the storefront's pages, emitting what its tracker would."""

    def __init__(self, planner: Planner, visitor: Visitor, client: Client, channel: Channel | None, t: float,
                 returning: bool, bot: bool = False):
        self.p = planner
        self.rng = planner.rng
        self.shop = planner.shop
        self.visitor = visitor
        self.client = client
        self.channel = channel
        self.returning = returning
        self.bot = bot
        self.t = t
        self.session_id = new_uuid(self.rng)
        client.sessions += 1
        if client.first_session_id is None:
            client.first_session_id = self.session_id
        self.first_visit = client.first_session_id == self.session_id
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.page_starts: list[int] = []
        self.page_url: str | None = None
        self.page_title: str | None = None
        self.referrer: str | None = channel.referrer if channel else None
        self.landing = True
        self.viewed: list[Product] = []
        self.last_view: tuple | None = None
        self.exit_at = t
        focus = list(channel.focus_categories) if channel else []
        if visitor.favourite:
            focus.append(visitor.favourite)
        # Ordered (not a set): string hashing differs per process and would break determinism.
        self.focus = tuple(dict.fromkeys(focus))
        weights = [planner.popularity[p.id] * (4.0 if p.category in self.focus else 1.0) for p in self.shop.products]
        self.cum_weights = list(_accumulate(weights))

    # -- primitives ------------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        self.t += max(0.05, min(seconds, SESSION_TIMEOUT * 0.5))

    def think(self, mean: float) -> None:
        """A human's time on a page before the next click: long-tailed, and never instant."""
        self.wait(max(1.5, self.rng.lognormvariate(math.log(mean), 0.7)))

    def emit(self, name: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
        # Key order and spelling as tracker/clickstream.js track() builds them.
        c = self.client
        event: dict[str, Any] = {
            "eventName": name,
            "eventId": new_uuid(self.rng),
            "clientTimestamp": int(self.t * 1000) + c.skew_ms,
            "clientId": c.id,
            "sessionId": self.session_id,
            "userId": c.user_id,
            "userLoginState": c.login_state,
            "isFirstVisit": self.first_visit,
            "pageUrl": self.page_url,
            "referrer": self.referrer,
            "pageTitle": self.page_title,
        }
        if props:
            event.update(props)
        self.events.append((self.t, event))
        self.t += self.rng.uniform(0.01, 0.25)
        return event

    def navigate(self, page: str, query: dict[str, str] | None, title: str) -> None:
        if self.landing and self.channel is not None:
            query = dict(query or {})
            query.update(self.channel.utm)
            if self.channel.click_id:
                query[self.channel.click_id] = _click_id(self.rng)
        url = self.shop.url(page, query)
        if not self.landing:
            self.referrer = self.page_url
        self.landing = False
        self.page_url = url
        self.page_title = title
        self.page_starts.append(len(self.events))
        self.emit("page_view")

    def click(self, tag: str, text: str, element_id: str | None = None, dataset: dict[str, str] | None = None,
              href: str | None = None) -> None:
        element: dict[str, Any] = {"tag": tag, "id": element_id, "role": None, "text": text,
                                   "dataset": {"track": "", **(dataset or {})}}
        if href:
            element["href"] = href
        self.emit("click", {"element": element})

    def pick_product(self, among: list[Product] | None = None, exclude: Product | None = None) -> Product:
        """A product to look at: popular ones and the visit's focus categories more often."""
        if among is not None and len(among) < len(self.shop.products):
            weights = [self.p.popularity[p.id] * (4.0 if p.category in self.focus else 1.0) for p in among]
            choice = self.rng.choices(among, weights=weights)[0]
            if choice is not exclude or len(among) == 1:
                return choice
        for _ in range(3):
            choice = self.rng.choices(self.shop.products, cum_weights=self.cum_weights)[0]
            if choice is not exclude:
                break
        return choice

    # -- pages -----------------------------------------------------------------------------
    def list_page(self, kind: str, value: str | None = None) -> list[Product]:
        shop = self.shop
        self.last_view = ("list", kind, value)
        if kind == "category":
            products = shop.by_category[value or shop.categories[0]]
            self.navigate("index.html", {"category": value or shop.categories[0]}, "Products · Demo Shop")
            items = shop.list_items("category", products[0].category, products)
            self.emit("view_item_list", {"itemListId": "category", "itemListName": products[0].category,
                                         "items": items})
        elif kind == "search":
            term = value or ""
            products = shop.search(term)
            self.navigate("index.html", {"q": term}, "Products · Demo Shop")
            self.emit("search", {"searchTerm": term})
            self.emit("view_item_list", {"itemListId": "search", "itemListName": "Search results",
                                         "items": shop.list_items("search", term, products)})
        else:
            products = list(shop.products)
            self.navigate("index.html", None, "Products · Demo Shop")
            self.emit("view_item_list", {"itemListId": "all", "itemListName": "All products",
                                         "items": shop.list_items("all", "All products", products)})
        return products

    def product_page(self, product: Product, from_list: str | None = None) -> None:
        if from_list is not None:
            self.emit("select_item", {"product": self.shop.product_obj[product.id],
                                      "items": [self.shop.item_obj[product.id]], "itemListName": from_list})
        self.navigate("product.html", {"id": product.id}, f"{product.name} · Demo Shop")
        self.last_view = ("product", product)
        item = self.shop.item_obj[product.id]
        self.emit("view_item", {"product": self.shop.product_obj[product.id], "items": [item],
                                "value": item["price"], "currency": self.shop.catalog.currency})
        self.viewed.append(product)

    def add_to_cart(self, product: Product) -> None:
        quantity = 1 if self.rng.random() < 0.85 else self.rng.randrange(2, 4)
        item = self.shop.item(product, quantity)
        obj = dict(self.shop.product_obj[product.id])
        obj["quantity"] = quantity
        self.think(6)
        self.emit("add_to_cart", {"product": obj, "items": [item], "value": _round2(item["price"] * quantity),
                                  "currency": self.shop.catalog.currency})
        for line in self.client.cart:
            if line[0] is product:
                line[1] += quantity
                break
        else:
            self.client.cart.append([product, quantity])

    def cart_event(self, name: str, extra: dict[str, Any] | None = None) -> float:
        # tracker cartEvent(): value is the items' total plus shipping and tax.
        items = [self.shop.item(p, q) for p, q in self.client.cart]
        total = _round2(sum(i["price"] * i["quantity"] for i in items))
        props: dict[str, Any] = {"items": items, "value": total, "currency": self.shop.catalog.currency}
        if extra:
            props.update(extra)
            props["value"] = _round2(total + float(extra.get("shipping") or 0))
        self.emit(name, props)
        return total

    def cart_page(self) -> None:
        self.navigate("cart.html", None, "Cart · Demo Shop")
        self.cart_event("view_cart")
        if len(self.client.cart) > 1 and self.rng.random() < 0.12:
            self.think(8)
            product, quantity = self.client.cart.pop(self.rng.randrange(len(self.client.cart)))
            item = self.shop.item(product, quantity)
            self.emit("remove_from_cart", {"product": self.shop.product_obj[product.id], "items": [item],
                                           "value": _round2(item["price"] * quantity),
                                           "currency": self.shop.catalog.currency})

    def checkout_page(self) -> None:
        self.navigate("checkout.html", None, "Checkout · Demo Shop")
        self.cart_event("begin_checkout")

    def login(self, next_page: str) -> None:
        """Through login.html?next=...: the tracker stores the user, then sends ``login``."""
        self.click("a", "Log in", "login-link")
        self.think(4)
        self.navigate("login.html", {"next": next_page}, "Log in · Demo Shop")
        self.think(9)
        self.client.user_id = self.visitor.account
        self.client.login_state = "logged_in"
        self.emit("login")
        self.wait(self.rng.uniform(0.3, 1.0))

    def purchase(self) -> None:
        c, rng = self.client, self.rng
        self.think(40)  # filling in the form
        if c.login_state != "logged_in":
            c.login_state = "guest"  # Shop.tracker.setGuest() on submit
        total = _round2(sum(p.unit_price * q for p, q in c.cart))
        shipping = 0.0 if total >= SHIPPING_FREE_FROM else SHIPPING_FEE
        self.emit("add_shipping_info", {"currency": self.shop.catalog.currency, "value": total})
        now_ms = int(self.t * 1000) + c.skew_ms
        transaction_id = f"T-{_base36(now_ms)}-{_base36(rng.randrange(1_000_000))}"
        self.cart_event("purchase", {"transactionId": transaction_id, "shipping": shipping})
        c.cart.clear()

    # -- the visit -------------------------------------------------------------------------
    def _login_and_return(self) -> None:
        """Log in from the header, then login.html sends the visitor back to the page they were on,
        which loads again and sends its events again (as the storefront does)."""
        if not self.visitor.account or self.client.login_state == "logged_in" or self.last_view is None:
            return
        view = self.last_view
        self.login(self._current_page())
        if view[0] == "product":
            product = view[1]
            self.product_page(product)
            if len(self.viewed) > 1 and self.viewed[-2] is product:
                self.viewed.pop()
        else:
            self.list_page(view[1], view[2])

    def run(self) -> SessionPlan:
        rng, channel, shop = self.rng, self.channel, self.shop
        assert channel is not None
        device = self.client.device
        login_share = self.p.config.login_share
        if self.client.sessions == 1 and self.returning:
            login_share = max(login_share, 0.8)  # a known customer on a new device signs in
        will_login = self.visitor.account is not None and rng.random() < login_share
        multiplier = channel.conversion * device.conversion * (1.3 if self.returning else 1.0)
        if self.client.login_state == "logged_in":
            multiplier *= 1.2
        multiplier *= rng.lognormvariate(0, 0.35)  # some visitors mean business, some just browse

        has_cart = bool(self.client.cart)
        landing = _pick(rng, channel.landings)
        # How deep into the funnel this visit goes, decided up front: each step needs the one
        # before, so sessions drop off stage by stage.
        reach_item = landing == "product" or rng.random() < P_LIST_TO_ITEM
        reach_cart = reach_item and rng.random() < min(0.95, P_ADD_TO_CART * multiplier)
        # A cart left from an earlier visit is finished off less often than a fresh one.
        p_checkout = P_BEGIN_CHECKOUT * multiplier * (1.0 if reach_cart else 0.35)
        reach_checkout = (reach_cart or has_cart) and rng.random() < min(0.95, p_checkout)
        reach_purchase = reach_checkout and rng.random() < min(0.97, P_PURCHASE * multiplier)

        focus = [c for c in channel.focus_categories if c in shop.by_category]
        current: tuple[str, list[Product]] | None = None  # the list page the visitor is on
        if landing == "product":
            self.product_page(self.pick_product())
        elif landing == "category":
            category = rng.choice(focus) if focus else rng.choice(shop.categories)
            current = (category, self.list_page("category", category))
        else:
            current = ("All products", self.list_page("home"))

        if will_login and rng.random() < 0.3:
            self.think(6)
            self._login_and_return()
        if has_cart and self.returning and rng.random() < 0.5:
            # Back for what is still in the cart from an earlier visit.
            self.think(10)
            self.click("a", f"Cart ({sum(q for _, q in self.client.cart)})", "cart-link")
            self.think(2)
            self.cart_page()
            if not reach_checkout:
                self.think(20)
                self.exit_at = self.t
                return self.plan()

        if reach_item:
            views = 1 + min(8, int(rng.expovariate(1 / 1.6)))
            while len(self.viewed) < views:
                self.think(25 if self.viewed else 12)
                if will_login and rng.random() < 0.3:
                    self._login_and_return()
                if current is None or rng.random() < 0.25:
                    current = self._browse_list()
                product = self.pick_product(current[1], self.viewed[-1] if self.viewed else None)
                self.product_page(product, current[0])
                # Back to the list, or on to another list through the header.
                current = None if rng.random() < P_ANOTHER_PRODUCT else current
        elif rng.random() < 0.35:
            self.think(15)
            self._browse_list()

        if reach_cart:
            self.add_to_cart(self.viewed[-1])
            if len(self.viewed) > 1 and rng.random() < 0.2:
                self.think(15)
                self.product_page(self.viewed[-2])
                self.add_to_cart(self.viewed[-1])
        if reach_cart or (has_cart and reach_checkout):
            self.think(4)
            self.click("a", f"Cart ({sum(q for _, q in self.client.cart)})", "cart-link")
            self.think(1)
            self.cart_page()
        if reach_checkout and self.client.cart:
            self.think(20)
            self.click("button", "Checkout", "checkout")
            self.wait(rng.uniform(0.3, 1.2))
            self.checkout_page()
            if will_login and self.client.login_state != "logged_in":
                # "or log in" on the checkout page, then back to checkout: begin_checkout again.
                self.think(6)
                self.login("checkout.html")
                self.checkout_page()
            if reach_purchase:
                self.purchase()
                if rng.random() < 0.12:
                    self.think(15)
                    self.list_page("home")
        if self.client.login_state == "logged_in" and rng.random() < 0.03:
            self.think(10)
            self.emit("logout")
            self.client.user_id = None
            self.client.login_state = "anonymous"
        self.exit_at = self.t + rng.lognormvariate(math.log(20), 0.8)
        return self.plan()

    def _current_page(self) -> str:
        url = self.page_url or ""
        return url[len(self.shop.base):].split("#")[0] or "index.html"

    def _browse_list(self) -> tuple[str, list[Product]]:
        rng, shop = self.rng, self.shop
        roll = rng.random()
        if roll < 0.15:
            term = rng.choice(SEARCH_TERMS)
            if shop.search(term):
                return "Search results", self.list_page("search", term)
        if roll < 0.8:
            focus = [c for c in self.focus if c in shop.by_category]
            category = rng.choice(focus) if focus and rng.random() < 0.6 else rng.choice(shop.categories)
            self.click("a", category, None, {"nav": "category"}, shop.url("index.html", {"category": category}))
            self.wait(rng.uniform(0.3, 1.0))
            return category, self.list_page("category", category)
        self.click("a", "Demo Shop", None, {"nav": "home"}, shop.url("index.html"))
        self.wait(rng.uniform(0.3, 1.0))
        return "All products", self.list_page("home")

    def plan(self) -> SessionPlan:
        self.exit_at = max(self.exit_at, self.t)
        return SessionPlan(events=self.events, client=self.client,
                           channel=self.channel.name if self.channel else "bot",
                           device=self.client.device.kind, is_bot=self.bot, returning=self.returning,
                           page_starts=self.page_starts, exit_at=self.exit_at)


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def _base36(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    n = abs(n)
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _click_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(rng.choice(alphabet) for _ in range(40))


def plan_window_text(config: TrafficConfig) -> str:
    start = datetime.fromtimestamp(config.start_ts, UTC)
    end = datetime.fromtimestamp(config.end_ts, UTC)
    return f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"


__all__ = ["Batch", "Client", "Planner", "SessionPlan", "TrafficConfig", "Visitor", "plan_window_text"]
