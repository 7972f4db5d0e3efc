import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { Clickstream, makeBrowser, response, UUID_V4 } from "./harness.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CATALOG = JSON.parse(readFileSync(join(REPO, "sql/oltp/demo_catalog.json"), "utf8")).products;
const LAPTOP = CATALOG.find((p) => p.discount_price !== null); // discounted
const PHONE = CATALOG.find((p) => p.discount_price === null && p.category === "Phones");
const MINUTE = 60_000;

test("every event carries an eventId, identities, page context and created/sent times", async () => {
  const b = makeBrowser();
  const t = b.tracker();
  const created = b.time;
  t.pageView();
  await b.advance(2_000);
  t.viewItem(LAPTOP);
  await b.advance(2_999);
  assert.equal(b.requests.length, 0, "the flush interval runs from the first queued event");
  await b.advance(1);

  assert.equal(b.requests.length, 1, "one batch after the flush interval");
  const [page, view] = b.requests[0].body.events;
  for (const ev of [page, view]) {
    assert.match(ev.eventId, UUID_V4);
    assert.match(ev.clientId, UUID_V4);
    assert.match(ev.sessionId, UUID_V4);
    assert.equal(ev.userLoginState, "anonymous");
    assert.equal(ev.userId, null);
    assert.equal(ev.isFirstVisit, true);
    assert.equal(ev.pageUrl, b.location.href);
    assert.equal(ev.referrer, "https://www.google.com/");
    assert.equal(ev.sentAt, created + 5_000, "sentAt is the send time, the same for the whole batch");
  }
  assert.notEqual(page.eventId, view.eventId);
  assert.equal(page.clientTimestamp, created);
  assert.equal(view.clientTimestamp, created + 2_000);
  assert.equal(page.eventName, "page_view");
  assert.equal(view.eventName, "view_item");
  assert.deepEqual(view.product, {
    id: LAPTOP.id, name: LAPTOP.name, category: LAPTOP.category, brand: LAPTOP.brand,
    price: LAPTOP.price, discountPrice: LAPTOP.discount_price, urlPath: LAPTOP.url_path,
  });
  assert.equal(b.requests[0].url, "/clickstream");
  assert.equal(b.requests[0].init.method, "POST");
});

test("nothing is sent before the flush interval; the timer sends it", async () => {
  const b = makeBrowser();
  const t = b.tracker({ flushIntervalMs: 10_000 });
  t.pageView();
  await b.advance(9_999);
  assert.equal(b.requests.length, 0);
  await b.advance(1);
  assert.equal(b.requests.length, 1);
});

test("a purchase is sent at once", async () => {
  const b = makeBrowser();
  const t = b.tracker();
  t.purchase({ transactionId: "T-1", lines: [{ product: LAPTOP, quantity: 2 }, { product: PHONE, quantity: 1 }], shipping: 4.99 });
  await b.advance(0);
  assert.equal(b.requests.length, 1);
  const ev = b.requests[0].body.events[0];
  assert.equal(ev.eventName, "purchase");
  assert.equal(ev.transactionId, "T-1");
  assert.equal(ev.currency, "EUR");
  assert.equal(ev.value, Math.round((LAPTOP.discount_price * 2 + PHONE.price + 4.99) * 100) / 100);
  assert.deepEqual(ev.items.map((i) => [i.itemId, i.quantity, i.price]), [
    [LAPTOP.id, 2, LAPTOP.discount_price],
    [PHONE.id, 1, PHONE.price],
  ]);
  assert.equal(ev.items[0].discount, Math.round((LAPTOP.price - LAPTOP.discount_price) * 100) / 100);
  assert.equal(ev.items[1].discount, undefined);
});

test("clientId outlives sessions; a session ends after 30 minutes without events", async () => {
  const b = makeBrowser();
  const first = b.tracker();
  const e1 = first.pageView();
  b.time += 29 * MINUTE;
  const e2 = first.pageView();
  assert.equal(e2.sessionId, e1.sessionId, "29 minutes of inactivity keep the session");

  b.time += 31 * MINUTE;
  const secondPage = b.tracker(); // next page load, same localStorage
  const e3 = secondPage.pageView();
  assert.equal(e3.clientId, e1.clientId);
  assert.notEqual(e3.sessionId, e1.sessionId, "31 minutes of inactivity start a new session");
  assert.equal(e1.isFirstVisit, true);
  assert.equal(e3.isFirstVisit, false, "a returning visitor's later session is not a first visit");

  const otherBrowser = makeBrowser({ start: b.time }).tracker().pageView();
  assert.notEqual(otherBrowser.clientId, e1.clientId);
});

test("a guest who logs in keeps the session; logout returns to anonymous", () => {
  const b = makeBrowser();
  const t = b.tracker();
  const before = t.pageView();
  t.setGuest();
  const guest = t.addToCart(PHONE);
  const login = t.login("user-42");
  const after = t.beginCheckout([{ product: PHONE, quantity: 1 }]);
  const logout = t.logout();
  const later = t.pageView();

  assert.equal(before.userLoginState, "anonymous");
  assert.equal(guest.userLoginState, "guest");
  assert.equal(login.eventName, "login");
  assert.equal(login.userId, "user-42");
  assert.deepEqual([after.userId, after.userLoginState], ["user-42", "logged_in"]);
  assert.equal(logout.userId, "user-42", "the logout event itself still names the user");
  assert.deepEqual([later.userId, later.userLoginState], [null, "anonymous"]);
  assert.equal(new Set([before, guest, login, after, logout, later].map((e) => e.sessionId)).size, 1);
  assert.equal(guest.product.quantity, 1);
});

test("batches respect the event limit and the byte limit, each event sent once, in order", async () => {
  const b = makeBrowser();
  const t = b.tracker({ maxBatchBytes: 20_000 });
  const tracked = [];
  for (let i = 0; i < 1_200; i++) tracked.push(t.track("scroll_depth", { depth: i % 100 }).eventId);
  await b.advance(60_000);

  for (const r of b.requests) {
    assert.ok(r.body.events.length <= 500);
    assert.ok(Buffer.byteLength(r.init.body) <= 20_000, `body of ${Buffer.byteLength(r.init.body)} bytes`);
  }
  assert.deepEqual(b.sentEvents().map((e) => e.eventId), tracked);
  assert.equal(t.queueLength(), 0);

  const c = makeBrowser();
  const t2 = c.tracker();
  for (let i = 0; i < 1_200; i++) t2.track("scroll_depth");
  await c.advance(0);
  assert.deepEqual(c.requests.map((r) => r.body.events.length), [500, 500], "full batches go at once");
  await c.advance(5_000);
  assert.deepEqual(c.requests.map((r) => r.body.events.length), [500, 500, 200], "the rest on the timer");
});

test("5xx is retried, honouring Retry-After, and the retry carries a new sentAt", async () => {
  const b = makeBrowser();
  const t = b.tracker();
  b.responses.push(response(503, { error: "storage_unavailable" }, { "Retry-After": "7" }));
  const ev = t.purchase({ transactionId: "T-9", lines: [{ product: PHONE, quantity: 1 }] });
  await b.advance(0);
  assert.equal(b.requests.length, 1);
  await b.advance(6_999);
  assert.equal(b.requests.length, 1, "not before Retry-After");
  await b.advance(1);
  assert.equal(b.requests.length, 2);
  const [first, second] = b.requests.map((r) => r.body.events[0]);
  assert.equal(second.eventId, ev.eventId);
  assert.equal(second.sentAt - first.sentAt, 7_000);
  assert.equal(t.stats().accepted, 1);
  assert.deepEqual(b.errors.map((e) => [e.type, e.status, e.retryInMs]), [["http", 503, 7_000]]);
});

test("network errors and 429 back off exponentially until the send succeeds", async () => {
  const b = makeBrowser();
  const t = b.tracker({ retryBaseMs: 1_000 });
  b.responses.push(new TypeError("Failed to fetch"), new TypeError("Failed to fetch"), response(429), new TypeError("x"));
  t.purchase({ transactionId: "T-2", lines: [{ product: PHONE }] });
  await b.advance(60_000);
  const gaps = b.requests.slice(1).map((r, i) => r.at - b.requests[i].at);
  assert.deepEqual(gaps, [1_000, 2_000, 4_000, 8_000]);
  assert.equal(b.requests.length, 5);
  assert.equal(t.queueLength(), 0);
  assert.equal(t.stats().retries, 4);
  assert.equal(new Set(b.sentEvents().map((e) => e.eventId)).size, 1);
});

test("the backoff is capped and jittered", async () => {
  const b = makeBrowser();
  const t = b.tracker({ retryBaseMs: 1_000, retryMaxMs: 4_000, random: () => 0 });
  for (let i = 0; i < 5; i++) b.responses.push(response(500));
  t.purchase({ transactionId: "T-3", lines: [{ product: PHONE }] });
  await b.advance(60_000);
  const gaps = b.requests.slice(1).map((r, i) => r.at - b.requests[i].at);
  assert.deepEqual(gaps, [500, 1_000, 2_000, 2_000, 2_000], "half the capped exponential with random() = 0");
});

test("other 4xx are never retried; the events are dropped and reported", async () => {
  const b = makeBrowser();
  const t = b.tracker();
  b.responses.push(response(400, { error: "no_valid_events" }));
  t.purchase({ transactionId: "T-4", lines: [{ product: PHONE }] });
  await b.advance(120_000);
  assert.equal(b.requests.length, 1);
  assert.equal(t.queueLength(), 0);
  assert.deepEqual(b.errors.map((e) => [e.status, e.dropped]), [[400, true]]);
  assert.equal(t.stats().dropped, 1);
});

test("413 splits the batch and sends both halves", async () => {
  const b = makeBrowser();
  const t = b.tracker();
  b.responses.push(response(413));
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(t.track("scroll_depth").eventId);
  await b.advance(30_000);
  assert.deepEqual(b.requests.map((r) => r.body.events.length), [10, 5, 5]);
  assert.deepEqual(b.requests.slice(1).flatMap((r) => r.body.events.map((e) => e.eventId)), ids);
});

test("rejected events in a 200 are reported, not retried", async () => {
  const b = makeBrowser();
  const seen = [];
  const t = b.tracker({ onResponse: (r) => seen.push(r) });
  b.responses.push(response(200, { accepted: 1, rejected: [{ index: 1, code: "bad_format", field: "event_name" }] }));
  t.pageView();
  t.track("bad name!");
  await b.advance(10_000);
  assert.equal(b.requests.length, 1);
  assert.equal(seen[0].rejected[0].code, "bad_format");
  assert.deepEqual([t.stats().accepted, t.stats().rejected], [1, 1]);
});

test("hiding the page hands the queue to sendBeacon in chunks under 64 KiB", async () => {
  const b = makeBrowser();
  const t = b.tracker();
  const ids = [];
  for (let i = 0; i < 400; i++) ids.push(t.viewItemList(CATALOG.slice(0, 3), { id: "home", name: "Home" }).eventId);
  b.hide();
  assert.ok(b.beacons.length > 1, "several chunks");
  for (const beacon of b.beacons) {
    assert.ok(Buffer.byteLength(beacon.data) <= 60_000);
    assert.equal(beacon.url, "/clickstream");
  }
  assert.deepEqual(b.beacons.flatMap((x) => x.body.events.map((e) => e.eventId)), ids);
  assert.equal(t.queueLength(), 0);
  await b.advance(60_000);
  assert.equal(b.requests.length, 0, "nothing is sent twice by the timer");
});

test("pagehide flushes too; what sendBeacon refuses is sent by the next page", async () => {
  const storage = Clickstream.memoryStorage();
  const b = makeBrowser({ storage, beaconResult: false });
  const t = b.tracker();
  const ev = t.addToCart(LAPTOP, 2);
  b.window.dispatchEvent(new Event("pagehide"));
  assert.equal(b.beacons.length, 1);

  const next = makeBrowser({ storage, start: b.time + 1_000 });
  next.tracker();
  await next.advance(0);
  assert.equal(next.requests.length, 1);
  assert.equal(next.requests[0].body.events[0].eventId, ev.eventId);
  assert.equal(storage.getItem("cs_pending"), null);
});

test("without sendBeacon a keepalive fetch is used on hide", () => {
  const b = makeBrowser({ beacon: false });
  const t = b.tracker();
  t.pageView();
  b.hide();
  assert.equal(b.requests.length, 1);
  assert.equal(b.requests[0].init.keepalive, true);
});

test("click tracking describes the element", () => {
  const b = makeBrowser();
  const t = b.tracker();
  const element = {
    tagName: "BUTTON", id: "add", textContent: "  Add to\n cart ", dataset: { track: "", sku: "sku-001" },
    getAttribute: (name) => (name === "role" ? "button" : null),
  };
  const ev = t.click(element);
  assert.deepEqual(ev.element, { tag: "button", id: "add", role: "button", text: "Add to cart", dataset: { track: "", sku: "sku-001" } });
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  assert.equal(Clickstream.retryAfterMs("3", now), 3_000);
  assert.equal(Clickstream.retryAfterMs(new Date(now + 10_000).toUTCString(), now), 10_000);
  assert.equal(Clickstream.retryAfterMs("soon", now), null);
  assert.equal(Clickstream.retryAfterMs(null, now), null);
});

test("the tracker's events satisfy the event contract (validated by the Python contract)", async () => {
  const python = join(REPO, ".venv", "bin", "python");
  assert.ok(existsSync(python), "run scripts/bootstrap.sh first: the contract check needs .venv");
  const b = makeBrowser();
  const tr = b.tracker();
  tr.pageView();
  tr.viewItemList(CATALOG, { id: "all", name: "All products" });
  tr.selectItem(PHONE, { name: "All products" });
  tr.viewItem(LAPTOP);
  tr.addToCart(LAPTOP, 1);
  tr.removeFromCart(LAPTOP, 1);
  tr.viewCart([{ product: PHONE, quantity: 3 }]);
  tr.search("usb-c dock");
  tr.setGuest();
  tr.beginCheckout([{ product: PHONE, quantity: 3 }]);
  tr.login("u-1");
  tr.purchase({ transactionId: "T-5", lines: [{ product: PHONE, quantity: 3 }], shipping: 0, tax: 12.5 });
  tr.click({ tagName: "A", href: "http://x/y", textContent: "Shop", dataset: {} });
  tr.logout();
  await b.advance(0);
  const events = b.sentEvents();
  assert.equal(events.length, 13);
  const script = [
    "import json, sys",
    "from clickstream_common import contract",
    "out = []",
    "for e in json.load(sys.stdin):",
    "    n = contract.validate(e)",
    "    out.append([contract.canonical_event_name(n['event_name']), n.get('client_timestamp') is not None, n.get('sent_at') is not None])",
    "print(json.dumps(out))",
  ].join("\n");
  const output = execFileSync(python, ["-c", script], {
    input: JSON.stringify(events), env: { ...process.env, PYTHONPATH: join(REPO, "lambdas") },
  });
  const checked = JSON.parse(output);
  assert.deepEqual(checked.map((c) => c[0]), [
    "page_view", "view_item_list", "select_item", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
    "search", "begin_checkout", "login", "purchase", "click", "logout",
  ]);
  assert.ok(checked.every((c) => c[1] && c[2]));
});
