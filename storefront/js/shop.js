/*
 * The demo shop's page logic: catalog, cart (localStorage), account, and the tracker calls
 * that instrument every page. Each page calls Shop.start(render) with its own render function.
 */
(function () {
  "use strict";

  var CART_KEY = "shop_cart";
  var ORDERS_KEY = "shop_orders";
  var COLORS = ["#2457c5", "#0e9384", "#c4320a", "#7a5af8", "#dc6803", "#099250", "#c11574", "#475467"];

  function meta(name, fallback) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el && el.content ? el.content : fallback;
  }

  // The endpoint defaults to /clickstream on this origin (the local adapter); a deployed shop
  // sets <meta name="clickstream-endpoint" content="https://<api>/clickstream">.
  var tracker = Clickstream.createTracker({
    endpoint: meta("clickstream-endpoint", "/clickstream"),
    flushIntervalMs: Number(meta("clickstream-flush-ms", "3000")),
    onError: function (e) { if (window.console) console.warn("clickstream", e.type, e.status || ""); }
  });
  tracker.trackClicks(document);

  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function money(x) {
    return "€" + Number(x).toFixed(2);
  }

  function unitPrice(p) {
    return p.discount_price !== null && p.discount_price !== undefined ? p.discount_price : p.price;
  }

  function priceHtml(p) {
    if (p.discount_price === null || p.discount_price === undefined) return '<span class="price">' + money(p.price) + "</span>";
    return '<span class="price"><s>' + money(p.price) + '</s><span class="sale">' + money(p.discount_price) + "</span></span>";
  }

  function swatch(p) {
    var n = parseInt(String(p.id).replace(/\D/g, ""), 10) || 0;
    var initials = p.name.split(/\s+/).slice(0, 2).map(function (w) { return w[0]; }).join("");
    return '<div class="swatch" style="background:' + COLORS[n % COLORS.length] + '">' + esc(initials) + "</div>";
  }

  function productHref(p) {
    return "product.html?id=" + encodeURIComponent(p.id);
  }

  function readJson(key, fallback) {
    try {
      var v = JSON.parse(localStorage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback;
    }
  }

  function writeJson(key, value) {
    localStorage.setItem(key, JSON.stringify(value));
  }

  // --- cart: [{id, quantity}] ------------------------------------------------------------
  function cart() {
    return readJson(CART_KEY, []);
  }

  function cartLines(catalog) {
    var byId = {};
    catalog.products.forEach(function (p) { byId[p.id] = p; });
    return cart().filter(function (l) { return byId[l.id]; }).map(function (l) {
      return { product: byId[l.id], quantity: l.quantity };
    });
  }

  function addToCart(product, quantity) {
    var lines = cart();
    var line = lines.filter(function (l) { return l.id === product.id; })[0];
    if (line) line.quantity += quantity;
    else lines.push({ id: product.id, quantity: quantity });
    writeJson(CART_KEY, lines);
    tracker.addToCart(product, quantity);
    renderHeader();
  }

  function removeFromCart(product) {
    var lines = cart();
    var line = lines.filter(function (l) { return l.id === product.id; })[0];
    writeJson(CART_KEY, lines.filter(function (l) { return l.id !== product.id; }));
    if (line) tracker.removeFromCart(product, line.quantity);
    renderHeader();
  }

  function clearCart() {
    writeJson(CART_KEY, []);
    renderHeader();
  }

  function cartTotal(lines) {
    return Math.round(lines.reduce(function (s, l) { return s + unitPrice(l.product) * l.quantity; }, 0) * 100) / 100;
  }

  function recordOrder(order) {
    var orders = readJson(ORDERS_KEY, []);
    orders.push(order);
    writeJson(ORDERS_KEY, orders.slice(-20));
  }

  // --- header ----------------------------------------------------------------------------
  var catalogPromise = null;
  function loadCatalog() {
    if (!catalogPromise) {
      catalogPromise = fetch("catalog.json").then(function (r) {
        if (!r.ok) throw new Error("catalog.json: HTTP " + r.status);
        return r.json();
      });
    }
    return catalogPromise;
  }

  function categories(catalog) {
    var seen = [];
    catalog.products.forEach(function (p) { if (seen.indexOf(p.category) < 0) seen.push(p.category); });
    return seen;
  }

  function renderHeader(catalog) {
    var header = document.getElementById("header");
    if (!header) return;
    var params = new URLSearchParams(location.search);
    var active = params.get("category");
    var user = tracker.user();
    var count = cart().reduce(function (s, l) { return s + l.quantity; }, 0);
    var cats = catalog ? categories(catalog) : (renderHeader.cats || []);
    renderHeader.cats = cats;
    header.innerHTML =
      '<div class="bar"><a class="logo" href="index.html" data-track data-nav="home">Demo Shop</a>' +
      '<nav class="categories">' + cats.map(function (c) {
        return '<a href="index.html?category=' + encodeURIComponent(c) + '" data-track data-nav="category"' +
          (c === active ? ' class="active"' : "") + ">" + esc(c) + "</a>";
      }).join("") + "</nav>" +
      '<form class="search" action="index.html"><input name="q" placeholder="Search" value="' + esc(params.get("q") || "") +
      '" aria-label="Search"><button class="secondary">Search</button></form>' +
      '<div class="account">' +
      (user.state === "logged_in"
        ? '<span class="muted" id="whoami">' + esc(user.id) + '</span><a href="#" id="logout" data-track>Log out</a>'
        : '<a href="login.html?next=' + encodeURIComponent(location.pathname + location.search) + '" id="login-link" data-track>Log in</a>') +
      '<a href="cart.html" id="cart-link" data-track>Cart (<span id="cart-count">' + count + "</span>)</a></div></div>";
    var logout = document.getElementById("logout");
    if (logout) logout.addEventListener("click", function (e) {
      e.preventDefault();
      tracker.logout();
      renderHeader();
    });
  }

  /** Load the catalog, draw the header, send page_view, then let the page draw itself. */
  function start(render) {
    loadCatalog().then(function (catalog) {
      renderHeader(catalog);
      tracker.pageView();
      render(catalog, document.getElementById("main"));
      document.body.setAttribute("data-ready", "true");
    }).catch(function (err) {
      document.getElementById("main").innerHTML = '<p class="notice">The shop could not load: ' + esc(err.message) + "</p>";
    });
  }

  window.Shop = {
    tracker: tracker,
    start: start,
    esc: esc,
    money: money,
    priceHtml: priceHtml,
    swatch: swatch,
    productHref: productHref,
    unitPrice: unitPrice,
    cart: cart,
    cartLines: cartLines,
    cartTotal: cartTotal,
    addToCart: addToCart,
    removeFromCart: removeFromCart,
    clearCart: clearCart,
    recordOrder: recordOrder,
    renderHeader: renderHeader
  };
})();
