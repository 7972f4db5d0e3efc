/*
 * A stand-in for the clickstream publisher of the SBW Cloudworks Next.js storefront
 * (SBW-Cloudworks/ClickSteam.NextJS, lib/clickstreamClient.ts + lib/clickstreamEvents.ts),
 * rewritten from its observable behaviour so that a test sees the same requests:
 * one JSON event per fetch POST, the same fields in the same order, the same quirks.
 *
 * It also keeps a copy of every request it makes (window.SbwTracker.records()) so tests can
 * compare what the page sent with what the server received; that copy changes nothing sent.
 */
(function () {
  "use strict";

  // The storage keys the SBW storefront uses, so a profile looks the same to anyone reading it.
  var STORE = {
    client: "sbw_clickstream_client_id",
    session: "sbw_clickstream_session_id",
    lastActivity: "sbw_clickstream_last_activity",
  };
  var SESSION_IDLE_LIMIT_MS = 30 * 60 * 1000;

  var warnedNoEndpoint = false;
  var records = []; // {url, body, init, status}: inspection only
  var inFlight = new Set();

  function endpoint() {
    // The SBW build bakes NEXT_PUBLIC_CLICKSTREAM_ENDPOINT in; here the test server writes it.
    var meta = document.querySelector('meta[name="clickstream-endpoint"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // Outside a secure context there is no randomUUID; SBW falls back to time + 8 hex digits.
    return Date.now() + "-" + Math.random().toString(16).slice(2, 10);
  }

  function readStorage(area, key) {
    try {
      return window[area].getItem(key);
    } catch (e) {
      return null;
    }
  }

  function writeStorage(area, key, value) {
    try {
      window[area].setItem(key, value);
    } catch (e) {
      /* storage refused (private mode, quota): the event still goes out */
    }
  }

  // Called once per event: the client id lives in localStorage for good, the session id in
  // sessionStorage and is replaced after 30 idle minutes. isFirstVisit is true only for the
  // event that created the client id.
  function identity() {
    var now = Date.now();
    var firstVisit = false;
    var clientId = readStorage("localStorage", STORE.client);
    if (!clientId) {
      clientId = newId();
      writeStorage("localStorage", STORE.client, clientId);
      firstVisit = true;
    }
    var last = Number(readStorage("sessionStorage", STORE.lastActivity) || 0);
    var sessionId = readStorage("sessionStorage", STORE.session);
    if (!sessionId || (last && now - last > SESSION_IDLE_LIMIT_MS)) sessionId = newId();
    writeStorage("sessionStorage", STORE.session, sessionId);
    writeStorage("sessionStorage", STORE.lastActivity, String(now));
    return { clientId: clientId, sessionId: sessionId, isFirstVisit: firstVisit };
  }

  function baseEvent(eventName, user) {
    var eventId = newId();
    var who = identity();
    var userId = user && user.userId != null ? user.userId : null;
    var loginState = user && user.userLoginState != null ? user.userLoginState : userId ? "logged_in" : "anonymous";
    // Key order is part of the contract: it is the order of the SBW publisher's JSON.
    return {
      eventName: eventName,
      eventId: eventId,
      pageUrl: window.location.href,
      referrer: document.referrer || null,
      userId: userId,
      userLoginState: loginState,
      clientId: who.clientId,
      sessionId: who.sessionId,
      isFirstVisit: who.isFirstVisit,
    };
  }

  // What a click reports about its target: nothing for non-HTML targets (an SVG icon gives
  // {}), the id only when there is one, role as the raw attribute (null when missing), no text
  // for password/email/tel/number inputs, data-* attributes with a value.
  function describeElement(target) {
    if (!(target instanceof HTMLElement)) return {};
    var tag = target.tagName ? target.tagName.toLowerCase() : undefined;
    var dataset = {};
    Object.keys(target.dataset || {}).forEach(function (key) {
      if (target.dataset[key]) dataset[key] = target.dataset[key];
    });
    var text;
    var type = (target.getAttribute("type") || "").toLowerCase();
    var hidden = tag === "input" && ["password", "email", "tel", "number"].indexOf(type) >= 0;
    if (!hidden) {
      var words = (target.innerText || target.textContent || "").trim().replace(/\s+/g, " ");
      text = words.length > 160 ? words.slice(0, 160) + "..." : words || undefined;
    }
    return { tag: tag, id: target.id || undefined, role: target.getAttribute("role"), text: text, dataset: dataset };
  }

  function send(url, init) {
    var record = { url: url, body: init.body, init: JSON.parse(JSON.stringify(init)), status: "pending" };
    records.push(record);
    var request = window.fetch(url, init);
    var settled = request.then(
      function (response) {
        record.status = response.status;
      },
      function () {
        record.status = "failed";
      }
    );
    inFlight.add(settled);
    settled.then(function () {
      inFlight.delete(settled);
    });
    return request;
  }

  async function publish(event) {
    var url = endpoint();
    if (!url) {
      console.log("SBW Clickstream Publisher (dry-run: missing endpoint)", event.eventName);
      if (!warnedNoEndpoint) {
        console.warn("Clickstream: no clickstream-endpoint meta tag; event not sent.");
        warnedNoEndpoint = true;
      }
      return;
    }
    try {
      console.log("Clickstream ->", url, event.eventName);
      await send(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(event),
        keepalive: true,
      });
    } catch (err) {
      console.error("Clickstream: failed to send event", String(err));
    }
  }

  function trackPageView(user) {
    publish(baseEvent("page_view", user));
  }

  function trackClick(opts) {
    // A handler that publishes its own event sets this flag so the global listener, which
    // runs after it, drops the generic click once.
    if (window.__global_clickstream_ignore_click_once) {
      delete window.__global_clickstream_ignore_click_once;
      return;
    }
    var target = opts.event ? opts.event.target : null;
    if (target && target.closest && target.closest("[global-clickstream-ignore-click='true']")) return;
    var event = baseEvent("click", { userId: opts.userId, userLoginState: opts.userLoginState });
    event.element = describeElement(target);
    publish(event);
  }

  // Custom events: the base, then the payload spread over it. The payload always carries its
  // own userId/userLoginState keys (see withUser), so an anonymous user's `userId: undefined`
  // replaces the base's null and JSON.stringify drops the key: anonymous custom events have
  // no userId at all, while page_view and click say "userId": null.
  function trackCustom(eventName, payload) {
    payload = payload || {};
    var event = baseEvent(eventName, { userId: payload.userId, userLoginState: payload.userLoginState });
    publish(Object.assign(event, payload));
  }

  function withUser(payload, user) {
    if (!user) return payload;
    return Object.assign({}, payload, {
      userId: user.userId != null ? user.userId : payload.userId,
      userLoginState: user.userLoginState != null ? user.userLoginState : payload.userLoginState,
    });
  }

  function numeric(value) {
    if (typeof value === "number") return value;
    return Number(value) || undefined;
  }

  // The product block of product events, from a storefront product object. category is the
  // product's variant; discountPrice is the product's discount percentage (the storefront has
  // no discounted price), so 0 stays 0 and 10 means 10 %.
  function productContext(product) {
    if (!product) return undefined;
    var urlPath;
    if (typeof product.slug === "string") urlPath = product.slug;
    else if (product.slug && product.slug.current) urlPath = "/product/" + product.slug.current;
    var brandObject = product.brand && typeof product.brand === "object" ? product.brand : {};
    var brand =
      product.brandName ||
      brandObject.name ||
      brandObject.title ||
      (product.brandId && product.brandId.name) ||
      product.brand ||
      product.producer ||
      undefined;
    var discountPrice = numeric(product.discountPrice);
    return {
      id: product._id || product.id,
      name: product.name,
      category: product.variant || product.category,
      brand: brand,
      price: numeric(product.price),
      discountPrice: discountPrice != null ? discountPrice : numeric(product.discount),
      urlPath: urlPath,
    };
  }

  var events = {
    homeView: function (user) {
      trackCustom("home_view", withUser({}, user));
    },
    categoryView: function (opts, user) {
      trackCustom("category_view", withUser({ product: { category: opts.categoryName, id: opts.categoryId } }, user));
    },
    productView: function (product, user) {
      trackCustom("product_view", withUser({ product: productContext(product) }, user));
    },
    addToCart: function (product, user) {
      trackCustom("add_to_cart_click", withUser({ product: productContext(product) }, user));
    },
    removeFromCart: function (product, user) {
      trackCustom("remove_from_cart_click", withUser({ product: productContext(product) }, user));
    },
    wishlistToggle: function (product, toggledOn, user) {
      trackCustom(
        "wishlist_toggle",
        withUser({ product: productContext(product), element: { dataset: { toggledOn: String(Boolean(toggledOn)) } } }, user)
      );
    },
    shareClick: function (product, channel, user) {
      trackCustom(
        "share_click",
        withUser({ product: productContext(product), element: channel ? { dataset: { channel: channel } } : undefined }, user)
      );
    },
    loginOpen: function (user) {
      trackCustom("login_open", withUser({}, user));
    },
    loginSuccess: function (user) {
      trackCustom("login_success", withUser({}, user));
    },
    logout: function (user) {
      trackCustom("logout", withUser({}, user));
    },
    checkoutStart: function (opts, user) {
      var dataset = {
        cartId: opts.cartId != null ? opts.cartId : "",
        total: opts.total !== undefined ? String(opts.total) : "",
        itemCount: opts.itemCount !== undefined ? String(opts.itemCount) : "",
      };
      trackCustom("checkout_start", withUser({ element: { dataset: dataset } }, user));
    },
    checkoutComplete: function (opts, user) {
      var dataset = {
        orderId: opts.orderId != null ? opts.orderId : "",
        orderNumber: opts.orderNumber != null ? opts.orderNumber : "",
        total: opts.total !== undefined ? String(opts.total) : "",
      };
      trackCustom("checkout_complete", withUser({ element: { dataset: dataset } }, user));
    },
  };

  window.SbwTracker = Object.freeze({
    trackPageView: trackPageView,
    trackClick: trackClick,
    trackCustom: trackCustom,
    events: Object.freeze(events),
    clientId: function () {
      return readStorage("localStorage", STORE.client);
    },
    sessionId: function () {
      return readStorage("sessionStorage", STORE.session);
    },
    // Copies, so a test cannot alter what the tracker remembers.
    records: function () {
      return records.map(function (r) {
        return JSON.parse(JSON.stringify(r));
      });
    },
    pending: function () {
      return inFlight.size;
    },
    settled: function () {
      return Promise.all(Array.from(inFlight)).then(function () {
        return true;
      });
    },
  });
})();
