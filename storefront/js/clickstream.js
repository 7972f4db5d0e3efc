/*
 * clickstream.js: a small, dependency-free browser tracker for the clickstream platform.
 *
 * Sends events in the storefront tracker's camelCase format of the event contract
 * (lambdas/clickstream_common/event.schema.json) to POST <endpoint> as {"events": [...]}.
 * See docs/tracker.md. Every browser dependency (fetch, sendBeacon, storage, clock, timers,
 * uuid, window) can be injected, which is how tracker/test/ runs it under Node.
 *
 * The file lives in storefront/js/ so the static site is self-contained (the local adapter
 * serves only files inside its static folder); tracker/clickstream.js links to it.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.Clickstream = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var root = typeof globalThis !== "undefined" ? globalThis : self;
  var VERSION = "1.0.0";
  var DEFAULTS = {
    endpoint: "/clickstream",
    flushIntervalMs: 5000,
    // The ingest's limits: MAX_EVENTS_PER_REQUEST and MAX_BODY_BYTES (decoded).
    maxBatchEvents: 500,
    maxBatchBytes: 1048576,
    // sendBeacon and keepalive fetch refuse bodies above 64 KiB in total; stay below it.
    beaconMaxBytes: 60000,
    maxQueueEvents: 5000,
    sessionTimeoutMs: 30 * 60 * 1000,
    retryBaseMs: 1000,
    retryMaxMs: 60000,
    currency: "EUR",
    storagePrefix: "cs_",
    flushImmediately: ["purchase"],
    autoListen: true
  };
  var LOGIN_STATES = { logged_in: 1, anonymous: 1, guest: 1 };

  function memoryStorage() {
    var data = {};
    return {
      getItem: function (k) { return Object.prototype.hasOwnProperty.call(data, k) ? data[k] : null; },
      setItem: function (k, v) { data[k] = String(v); },
      removeItem: function (k) { delete data[k]; }
    };
  }

  function browserStorage() {
    // localStorage throws in some privacy modes and sandboxed iframes; fall back to memory.
    try {
      var s = root.localStorage;
      var probe = "__cs_probe__";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return memoryStorage();
    }
  }

  function randomUuid() {
    var c = root.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function utf8Length(text) {
    if (typeof TextEncoder !== "undefined") return new TextEncoder().encode(text).length;
    return unescape(encodeURIComponent(text)).length;
  }

  function readJson(storage, key) {
    try {
      var raw = storage.getItem(key);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function writeJson(storage, key, value) {
    try {
      storage.setItem(key, JSON.stringify(value));
      return true;
    } catch (e) {
      return false; // quota exceeded: the tracker keeps working from memory
    }
  }

  function round2(x) {
    return Math.round(x * 100) / 100;
  }

  function pick(obj, camel, snake) {
    if (obj[camel] !== undefined) return obj[camel];
    return snake ? obj[snake] : undefined;
  }

  /** A catalog product (camelCase or snake_case keys) -> the contract's product object. */
  function toProduct(p) {
    if (!p) return null;
    var out = {
      id: pick(p, "id", "sku"),
      name: p.name,
      category: p.category,
      brand: p.brand,
      price: p.price,
      discountPrice: pick(p, "discountPrice", "discount_price"),
      urlPath: pick(p, "urlPath", "url_path")
    };
    if (p.quantity !== undefined) out.quantity = p.quantity;
    Object.keys(out).forEach(function (k) { if (out[k] === undefined) delete out[k]; });
    return out;
  }

  /** The price a shopper pays: the discount price when there is one. */
  function unitPrice(p) {
    var d = pick(p, "discountPrice", "discount_price");
    return d !== null && d !== undefined ? Number(d) : Number(p.price);
  }

  /** A catalog product (+quantity, index) -> a GA4-style item. */
  function toItem(p, quantity, index) {
    var paid = unitPrice(p);
    var item = {
      itemId: pick(p, "id", "sku"),
      itemName: p.name,
      itemCategory: p.category,
      itemBrand: p.brand,
      price: paid,
      quantity: quantity === undefined ? (p.quantity === undefined ? 1 : p.quantity) : quantity
    };
    if (Number(p.price) > paid) item.discount = round2(Number(p.price) - paid);
    if (index !== undefined) item.index = index;
    return item;
  }

  function itemsValue(items) {
    return round2(items.reduce(function (sum, it) { return sum + Number(it.price) * Number(it.quantity); }, 0));
  }

  function describeElement(el) {
    if (!el) return null;
    var text = (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 100);
    var dataset = {};
    if (el.dataset) Object.keys(el.dataset).slice(0, 32).forEach(function (k) { dataset[k] = el.dataset[k]; });
    var out = {
      tag: el.tagName ? String(el.tagName).toLowerCase() : null,
      id: el.id || null,
      role: (el.getAttribute && el.getAttribute("role")) || null,
      text: text || null,
      dataset: dataset
    };
    if (el.href) out.href = String(el.href);
    return out;
  }

  /** Retry-After: delta-seconds or an HTTP date; null when absent or unreadable. */
  function retryAfterMs(value, now) {
    if (value === null || value === undefined || value === "") return null;
    var seconds = Number(value);
    if (isFinite(seconds)) return Math.max(0, seconds * 1000);
    var at = Date.parse(value);
    return isNaN(at) ? null : Math.max(0, at - now);
  }

  function createTracker(options) {
    var cfg = {};
    var k;
    for (k in DEFAULTS) cfg[k] = DEFAULTS[k];
    for (k in options || {}) if (options[k] !== undefined) cfg[k] = options[k];

    var win = cfg.window !== undefined ? cfg.window : (typeof window !== "undefined" ? window : null);
    var doc = cfg.document !== undefined ? cfg.document : (win && win.document) || null;
    var nav = cfg.navigator !== undefined ? cfg.navigator : (win && win.navigator) || null;
    var storage = cfg.storage || browserStorage();
    var now = cfg.now || Date.now;
    var uuid = cfg.uuid || randomUuid;
    var random = cfg.random || Math.random;
    var doFetch = cfg.fetch || (typeof fetch === "function" ? fetch.bind(root) : null);
    var beacon = cfg.sendBeacon || (nav && typeof nav.sendBeacon === "function" ? nav.sendBeacon.bind(nav) : null);
    var setTimer = cfg.setTimeout || setTimeout;
    var clearTimer = cfg.clearTimeout || clearTimeout;
    var onError = cfg.onError || function () {};
    var onResponse = cfg.onResponse || function () {};
    var P = cfg.storagePrefix;

    var queue = [];
    var sending = false;
    var failures = 0;
    var timer = null;
    var timerAt = null;
    var holdUntil = 0; // no send before this time (backoff / Retry-After)
    var stats = { sent: 0, accepted: 0, rejected: 0, dropped: 0, retries: 0, beacons: 0 };
    var idleResolvers = [];

    // --- identity -------------------------------------------------------------------------
    var client = readJson(storage, P + "client");
    var newClient = !client || typeof client.id !== "string";
    if (newClient) {
      client = { id: uuid(), firstSessionId: null };
      writeJson(storage, P + "client", client);
    }

    function user() {
      var u = readJson(storage, P + "user") || {};
      return { id: u.id || null, state: LOGIN_STATES[u.state] ? u.state : "anonymous" };
    }

    /** The current session id: a new one after sessionTimeoutMs without an event. */
    function touchSession() {
      var t = now();
      var s = readJson(storage, P + "session");
      if (!s || typeof s.id !== "string" || t - s.last > cfg.sessionTimeoutMs || t < s.last - cfg.sessionTimeoutMs) {
        s = { id: uuid(), started: t, last: t };
        if (!client.firstSessionId) {
          client.firstSessionId = newClient ? s.id : "returning";
          writeJson(storage, P + "client", client);
        }
      }
      s.last = t;
      writeJson(storage, P + "session", s);
      return s.id;
    }

    // --- building events ------------------------------------------------------------------
    function pageContext() {
      var loc = cfg.location || (win && win.location) || null;
      return {
        pageUrl: loc ? String(loc.href) : null,
        referrer: doc && doc.referrer ? String(doc.referrer) : null,
        pageTitle: doc && doc.title ? String(doc.title) : null
      };
    }

    function track(eventName, props) {
      var sessionId = touchSession();
      var u = user();
      var page = pageContext();
      var event = {
        eventName: eventName,
        eventId: uuid(),
        clientTimestamp: now(),
        clientId: client.id,
        sessionId: sessionId,
        userId: u.id,
        userLoginState: u.state,
        isFirstVisit: client.firstSessionId === sessionId,
        pageUrl: page.pageUrl,
        referrer: page.referrer,
        pageTitle: page.pageTitle
      };
      if (props) for (var key in props) if (props[key] !== undefined) event[key] = props[key];
      enqueue(event);
      return event;
    }

    function enqueue(event) {
      queue.push(event);
      if (queue.length > cfg.maxQueueEvents) {
        // A server unreachable for a long time: keep the newest events, count the loss.
        stats.dropped += queue.length - cfg.maxQueueEvents;
        queue.splice(0, queue.length - cfg.maxQueueEvents);
      }
      if (cfg.flushImmediately.indexOf(event.eventName) >= 0 || queue.length >= cfg.maxBatchEvents) schedule(0);
      else schedule(cfg.flushIntervalMs);
    }

    // --- sending --------------------------------------------------------------------------
    function schedule(delayMs) {
      var at = Math.max(now() + delayMs, holdUntil);
      if (timer !== null && timerAt <= at) return;
      if (timer !== null) clearTimer(timer);
      timerAt = at;
      timer = setTimer(function () {
        timer = null;
        timerAt = null;
        flush();
      }, Math.max(0, at - now()));
    }

    /** Take the next batch off the queue within the event and byte limits; stamp sentAt. */
    function takeBatch(maxEvents, maxBytes) {
      var batch = [];
      var size = utf8Length('{"events":[]}');
      var sentAt = now();
      while (queue.length && batch.length < maxEvents) {
        var ev = queue[0];
        ev.sentAt = sentAt;
        var len = utf8Length(JSON.stringify(ev)) + (batch.length ? 1 : 0);
        if (size + len > maxBytes) {
          if (batch.length) break;
          // One event larger than a whole request: the ingest would refuse it anyway.
          queue.shift();
          stats.dropped += 1;
          onError({ type: "event_too_large", event: ev });
          continue;
        }
        batch.push(queue.shift());
        size += len;
      }
      return { events: batch, bytes: size };
    }

    function backoff(retryAfter) {
      failures += 1;
      stats.retries += 1;
      var exp = Math.min(cfg.retryMaxMs, cfg.retryBaseMs * Math.pow(2, failures - 1));
      // Full jitter spreads the retries of many clients after an outage.
      var wait = retryAfter !== null ? retryAfter : Math.round(exp / 2 + (random() * exp) / 2);
      holdUntil = now() + wait;
      return wait;
    }

    function settle() {
      if (!sending && queue.length === 0) {
        var r = idleResolvers;
        idleResolvers = [];
        r.forEach(function (f) { f(); });
      }
    }

    /** Send queued events now (one request at a time). Resolves when this request settles. */
    function flush() {
      if (sending || !queue.length || !doFetch) return Promise.resolve();
      if (now() < holdUntil) {
        schedule(0);
        return Promise.resolve();
      }
      var batch = takeBatch(cfg.maxBatchEvents, cfg.maxBatchBytes);
      if (!batch.events.length) return Promise.resolve(settle());
      var body = JSON.stringify({ events: batch.events });
      sending = true;
      var init = {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body,
        credentials: "omit",
        // keepalive lets a small request finish even when the page unloads meanwhile.
        keepalive: batch.bytes <= cfg.beaconMaxBytes
      };
      return Promise.resolve()
        .then(function () { return doFetch(cfg.endpoint, init); })
        .then(
          function (res) { return handleResponse(res, batch.events); },
          function (err) { requeue(batch.events, null, { type: "network", error: err }); }
        )
        .then(function () {
          sending = false;
          if (queue.length) schedule(failures || queue.length >= cfg.maxBatchEvents ? 0 : cfg.flushIntervalMs);
          settle();
        });
    }

    function requeue(events, retryAfter, error) {
      Array.prototype.unshift.apply(queue, events);
      var wait = backoff(retryAfter);
      onError(Object.assign({ retryInMs: wait, events: events.length }, error));
    }

    function handleResponse(res, events) {
      var status = res.status;
      var headerValue = res.headers && typeof res.headers.get === "function" ? res.headers.get("retry-after") : null;
      if (status === 429 || status >= 500) {
        requeue(events, retryAfterMs(headerValue, now()), { type: "http", status: status });
        return;
      }
      failures = 0;
      holdUntil = 0;
      stats.sent += events.length;
      if (status === 413 && events.length > 1) {
        // Limits smaller than configured: split the batch and send both halves again.
        var half = Math.ceil(events.length / 2);
        cfg.maxBatchEvents = half;
        Array.prototype.unshift.apply(queue, events);
        stats.sent -= events.length;
        return;
      }
      if (status < 200 || status >= 300) {
        // Other 4xx: the request itself is wrong; sending it again cannot help.
        stats.dropped += events.length;
        onError({ type: "http", status: status, events: events.length, dropped: true });
        return;
      }
      var parse = typeof res.json === "function" ? res.json().catch(function () { return null; }) : Promise.resolve(null);
      return parse.then(function (payload) {
        var accepted = payload && typeof payload.accepted === "number" ? payload.accepted : events.length;
        var rejected = payload && Array.isArray(payload.rejected) ? payload.rejected : [];
        stats.accepted += accepted;
        stats.rejected += rejected.length;
        onResponse({ status: status, accepted: accepted, rejected: rejected, events: events });
      });
    }

    /**
     * The page is going away (or hidden): hand everything to sendBeacon (or keepalive fetch)
     * in chunks under 64 KiB; what the browser refuses is kept for the next page load.
     */
    function flushOnHide() {
      if (timer !== null) {
        clearTimer(timer);
        timer = null;
        timerAt = null;
      }
      var unsent = [];
      while (queue.length) {
        var batch = takeBatch(cfg.maxBatchEvents, cfg.beaconMaxBytes);
        if (!batch.events.length) break;
        var body = JSON.stringify({ events: batch.events });
        var ok = false;
        try {
          if (beacon) ok = beacon(cfg.endpoint, body) === true;
          else if (doFetch) {
            doFetch(cfg.endpoint, {
              method: "POST", body: body, keepalive: true, credentials: "omit",
              headers: { "content-type": "text/plain;charset=UTF-8" }
            }).catch(function () {});
            ok = true;
          }
        } catch (e) {
          ok = false;
        }
        if (ok) {
          stats.beacons += 1;
          stats.sent += batch.events.length;
        } else {
          Array.prototype.push.apply(unsent, batch.events);
        }
      }
      if (unsent.length) {
        var pending = (readJson(storage, P + "pending") || []).concat(unsent).slice(-cfg.maxQueueEvents);
        writeJson(storage, P + "pending", pending);
      }
    }

    function restorePending() {
      var pending = readJson(storage, P + "pending");
      if (Array.isArray(pending) && pending.length) {
        storage.removeItem(P + "pending");
        Array.prototype.unshift.apply(queue, pending);
        schedule(0);
      }
    }

    // --- identity changes -----------------------------------------------------------------
    function login(userId, props) {
      writeJson(storage, P + "user", { id: String(userId), state: "logged_in" });
      return track("login", props);
    }

    function logout(props) {
      var ev = track("logout", props);
      writeJson(storage, P + "user", { id: null, state: "anonymous" });
      return ev;
    }

    function setGuest(props) {
      writeJson(storage, P + "user", { id: null, state: "guest" });
      return props === undefined ? null : track("click", props);
    }

    // --- e-commerce helpers (GA4 canonical names) -----------------------------------------
    function pageView(props) {
      return track("page_view", props);
    }

    function viewItemList(products, list) {
      list = list || {};
      var items = (products || []).map(function (p, i) { return toItem(p, 1, i); });
      return track("view_item_list", {
        itemListId: list.id || null,
        itemListName: list.name || null,
        items: items.slice(0, 200)
      });
    }

    function viewItem(product) {
      var item = toItem(product, 1);
      return track("view_item", {
        product: toProduct(product), items: [item], value: itemsValue([item]), currency: cfg.currency
      });
    }

    function selectItem(product, list) {
      return track("select_item", {
        product: toProduct(product), items: [toItem(product, 1)], itemListName: (list && list.name) || null
      });
    }

    function addToCart(product, quantity) {
      var item = toItem(product, quantity === undefined ? 1 : quantity);
      var p = toProduct(product);
      p.quantity = item.quantity;
      return track("add_to_cart", { product: p, items: [item], value: itemsValue([item]), currency: cfg.currency });
    }

    function removeFromCart(product, quantity) {
      var item = toItem(product, quantity === undefined ? 1 : quantity);
      return track("remove_from_cart", {
        product: toProduct(product), items: [item], value: itemsValue([item]), currency: cfg.currency
      });
    }

    function cartEvent(name, lines, extra) {
      var items = (lines || []).map(function (l) { return toItem(l.product || l, l.quantity); });
      var props = { items: items, value: itemsValue(items), currency: cfg.currency };
      if (extra) for (var x in extra) props[x] = extra[x];
      // The order total includes shipping and tax (GA4's purchase value).
      props.value = round2(props.value + Number(props.shipping || 0) + Number(props.tax || 0));
      return track(name, props);
    }

    function viewCart(lines) {
      return cartEvent("view_cart", lines);
    }

    function beginCheckout(lines) {
      return cartEvent("begin_checkout", lines);
    }

    /** order: {transactionId, lines: [{product, quantity}], shipping, tax, coupon} */
    function purchase(order) {
      var extra = { transactionId: String(order.transactionId) };
      if (order.shipping !== undefined) extra.shipping = order.shipping;
      if (order.tax !== undefined) extra.tax = order.tax;
      if (order.coupon) extra.coupon = order.coupon;
      return cartEvent("purchase", order.lines, extra);
    }

    function search(term) {
      return track("search", { searchTerm: String(term).slice(0, 1024) });
    }

    function click(element, props) {
      var extra = { element: describeElement(element) };
      if (props) for (var x in props) extra[x] = props[x];
      return track("click", extra);
    }

    /** Track clicks on elements carrying data-track (or inside one), by event delegation. */
    function trackClicks(target) {
      target = target || doc;
      if (!target || !target.addEventListener) return;
      target.addEventListener("click", function (e) {
        var el = e.target;
        while (el && el !== target && !(el.dataset && el.dataset.track !== undefined)) el = el.parentElement;
        if (el && el !== target && el.dataset) click(el);
      }, true);
    }

    function whenIdle() {
      if (!sending && queue.length === 0) return Promise.resolve();
      return new Promise(function (resolve) { idleResolvers.push(resolve); });
    }

    function listen() {
      if (!win || !win.addEventListener) return;
      var onHidden = function () {
        if (!doc || doc.visibilityState === "hidden") flushOnHide();
      };
      if (doc && doc.addEventListener) doc.addEventListener("visibilitychange", onHidden);
      win.addEventListener("pagehide", flushOnHide);
    }

    restorePending();
    if (cfg.autoListen) listen();

    return {
      version: VERSION,
      track: track,
      pageView: pageView,
      viewItemList: viewItemList,
      viewItem: viewItem,
      selectItem: selectItem,
      addToCart: addToCart,
      removeFromCart: removeFromCart,
      viewCart: viewCart,
      beginCheckout: beginCheckout,
      purchase: purchase,
      search: search,
      click: click,
      trackClicks: trackClicks,
      login: login,
      logout: logout,
      setGuest: setGuest,
      flush: flush,
      flushOnHide: flushOnHide,
      whenIdle: whenIdle,
      clientId: function () { return client.id; },
      sessionId: function () { var s = readJson(storage, P + "session"); return s ? s.id : null; },
      user: user,
      queueLength: function () { return queue.length; },
      stats: function () { var c = {}; for (var s in stats) c[s] = stats[s]; return c; }
    };
  }

  return {
    VERSION: VERSION,
    DEFAULTS: DEFAULTS,
    createTracker: createTracker,
    memoryStorage: memoryStorage,
    toProduct: toProduct,
    toItem: toItem,
    retryAfterMs: retryAfterMs
  };
});
