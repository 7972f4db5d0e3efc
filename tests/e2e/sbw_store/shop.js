/*
 * A small single-page shop that drives sbw-tracker.js the way the SBW Cloudworks Next.js
 * storefront drives its publisher, so the events, their order and their timing match:
 *
 * - Every state change ends in a "commit" that re-renders and then runs the effects in the
 *   order React runs them: the page's tracker (a child) before the ClickstreamProvider's
 *   page_view effect (its parent). Effects re-run only when their inputs change.
 * - Page trackers (home, category, product) wait for auth to load, set
 *   window.__global_clickstream_ignore_pageview and send their view event; the provider's
 *   page_view effect consumes that flag instead of sending. On a first load auth is not loaded
 *   yet, so page_view goes first and the view event follows; an anonymous first load leaves the
 *   flag set until the next page_view effect run consumes it.
 * - Auth is loaded asynchronously after the first commit (Cognito reads its session), and one
 *   commit changes isLoaded, isSignedIn and userId together (React batches them).
 * - Link navigations happen in a later task, as a Next.js transition does: the global click
 *   listener reports the click on the page it happened on, before the next page's events.
 * - Nothing here sends login_success, logout, login_open or share_click: the SBW storefront
 *   defines them but never calls them.
 */
(function () {
  "use strict";

  var T = window.SbwTracker;

  // --- catalog (the shape the storefront's Prisma queries return for a product) -------------
  var BRANDS = { akko: "Akko", logitech: "Logitech", razer: "Razer", xiaomi: "Xiaomi", samsung: "Samsung", acer: "Acer" };
  var CATEGORIES = [
    { id: "cmj7sbw0c0001ct0fx1ban9ph", title: "Bàn phím", slug: "ban-phim" },
    { id: "cmj7sbw0c0002ct0fx2tai9ng", title: "Tai nghe", slug: "tai-nghe" },
    { id: "cmj7sbw0c0003ct0fx3gia9du", title: "Gia dụng", slug: "gia-dung" },
    { id: "cmj7sbw0c0004ct0fx4tul9an", title: "Tủ lạnh", slug: "tu-lanh" },
    { id: "cmj7sbw0c0005ct0fx5phu9ki", title: "Phụ kiện", slug: "phu-kien" },
  ];

  function product(id, name, slug, variant, brand, price, discount, stock, status, category, description) {
    return {
      id: id,
      _id: id,
      name: name,
      slug: { current: slug },
      description: description,
      price: price,
      discount: discount,
      stock: stock,
      status: status,
      variant: variant,
      isFeatured: discount > 0,
      images: ["/images/products/" + slug + ".jpg"],
      categories: [category],
      brandName: BRANDS[brand],
    };
  }

  var PRODUCTS = [
    product("cmj7sbw1p0001pr0akko3087q", "Bàn phím cơ Akko 3087 PBT Double-shot", "ban-phim-akko-3087", "gadget", "akko",
      1290000, 10, 18, "sale", "Bàn phím", "Layout tenkeyless, keycap PBT bền màu, cảm giác gõ chắc tay."),
    product("cmj7sbw1p0002pr0logik380w", "Bàn phím không dây Logitech K380", "ban-phim-logitech-k380", "gadget", "logitech",
      699000, 0, 25, "hot", "Bàn phím", "Nhỏ gọn, kết nối Bluetooth với ba thiết bị."),
    product("cmj7sbw1p0003pr0razerbsv2", "Tai nghe Razer BlackShark V2 X", "tai-nghe-razer-blackshark-v2-x", "gadget", "razer",
      1690000, 10, 15, "hot", "Tai nghe", "Màng loa TriForce 50 mm, micro khử ồn."),
    product("cmj7sbw1p0004pr0xiaomi6lf", "Nồi chiên không dầu Xiaomi 6L", "noi-chien-xiaomi-6l", "appliances", "xiaomi",
      1990000, 0, 12, "new", "Gia dụng", "Dung tích 6 lít, điều khiển qua ứng dụng."),
    product("cmj7sbw1p0005pr0samsu236l", "Tủ lạnh Samsung Inverter 236L", "tu-lanh-samsung-inverter-236l", "refrigerators",
      "samsung", 6490000, 10, 6, "sale", "Tủ lạnh", "Ngăn đá trên, làm lạnh vòm, tiết kiệm điện."),
    product("cmj7sbw1p0006pr0acerhdmi8", "Cáp HDMI 2.0 Acer 1.8m", "cap-hdmi-acer-1m8", "others", "acer",
      199000, 0, 0, "sale", "Phụ kiện", "Hỗ trợ 4K 60 Hz, dài 1,8 m."),
  ];
  var TABS = [
    { title: "Gadget", value: "gadget" },
    { title: "Appliances", value: "appliances" },
    { title: "Refrigerators", value: "refrigerators" },
    { title: "Others", value: "others" },
  ];

  function productBySlug(slug) {
    return PRODUCTS.find(function (p) { return p.slug.current === slug; }) || null;
  }
  function categoryBySlug(slug) {
    return CATEGORIES.find(function (c) { return c.slug === slug; }) || null;
  }
  function inCategory(slug) {
    var category = categoryBySlug(slug);
    if (!category) return [];
    return PRODUCTS.filter(function (p) { return p.categories.indexOf(category.title) >= 0; });
  }

  // --- cart and wishlist, persisted like the storefront's zustand store ("cart-store") -------
  var STORE_KEY = "cart-store";
  var store = (function () {
    try {
      var saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (saved && saved.state) return { items: saved.state.items || [], favoriteProduct: saved.state.favoriteProduct || [] };
    } catch (e) { /* a broken store starts empty */ }
    return { items: [], favoriteProduct: [] };
  })();

  function saveStore() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify({ state: store, version: 0 }));
    } catch (e) { /* not persisted; the page still works */ }
  }
  function itemCount(id) {
    var line = store.items.find(function (i) { return i.product._id === id; });
    return line ? line.quantity : 0;
  }
  function addItem(p) {
    var line = store.items.find(function (i) { return i.product._id === p._id; });
    if (line) line.quantity += 1;
    else store.items.push({ product: JSON.parse(JSON.stringify(p)), quantity: 1 });
    saveStore();
  }
  function removeOne(id) {
    store.items = store.items
      .map(function (i) { return i.product._id === id ? { product: i.product, quantity: i.quantity - 1 } : i; })
      .filter(function (i) { return i.quantity > 0; });
    saveStore();
  }
  function deleteCartProduct(id) {
    store.items = store.items.filter(function (i) { return i.product._id !== id; });
    saveStore();
  }
  function resetCart() {
    store.items = [];
    saveStore();
  }
  // The amount checkout reports: price x quantity (the stored price is already the sale price).
  function totalPrice() {
    return store.items.reduce(function (sum, i) { return sum + (i.product.price || 0) * i.quantity; }, 0);
  }
  // The storefront's "Tạm tính" line adds the discount back on top of the price.
  function subTotalPrice() {
    return store.items.reduce(function (sum, i) {
      var price = i.product.price || 0;
      return sum + (price + ((i.product.discount || 0) * price) / 100) * i.quantity;
    }, 0);
  }
  function isFavorite(id) {
    return store.favoriteProduct.some(function (p) { return p._id === id; });
  }
  function toggleFavorite(p) {
    return new Promise(function (resolve) {
      if (isFavorite(p._id)) store.favoriteProduct = store.favoriteProduct.filter(function (f) { return f._id !== p._id; });
      else store.favoriteProduct.push(JSON.parse(JSON.stringify(p)));
      saveStore();
      resolve();
    });
  }

  // --- a Cognito-like session in localStorage ------------------------------------------------
  var COGNITO_CLIENT = "5sbwfixture0cl1ent0000000a";
  var PREFIX = "CognitoIdentityServiceProvider." + COGNITO_CLIENT;
  var DEMO_USER = { sub: "3c8f9a2e-5b71-4d0c-9e64-1f2a7b8c9d05", email: "khachhang@sbw-cloudworks.example" };

  function b64url(text) {
    return btoa(unescape(encodeURIComponent(text))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    return decodeURIComponent(escape(atob(b64)));
  }
  function storeSession(user) {
    var exp = Math.floor(Date.now() / 1000) + 3600;
    var token = [b64url('{"alg":"none","typ":"JWT"}'),
      b64url(JSON.stringify({ sub: user.sub, email: user.email, token_use: "id", exp: exp })), "fixture"].join(".");
    localStorage.setItem(PREFIX + ".LastAuthUser", user.sub);
    localStorage.setItem(PREFIX + "." + user.sub + ".idToken", token);
  }
  function clearSession() {
    var last = localStorage.getItem(PREFIX + ".LastAuthUser");
    if (last) localStorage.removeItem(PREFIX + "." + last + ".idToken");
    localStorage.removeItem(PREFIX + ".LastAuthUser");
  }
  // getCurrentUser(): the id token's sub when a valid session is stored.
  function currentUser() {
    try {
      var last = localStorage.getItem(PREFIX + ".LastAuthUser");
      var token = last && localStorage.getItem(PREFIX + "." + last + ".idToken");
      if (!token) return null;
      var claims = JSON.parse(fromB64url(token.split(".")[1]));
      if (!claims.sub || claims.exp * 1000 <= Date.now()) return null;
      return { userId: claims.sub, email: claims.email };
    } catch (e) {
      return null;
    }
  }

  var auth = { isLoaded: false, isSignedIn: false, userId: null, email: null };

  function syncAuth() {
    var user = currentUser();
    auth = { isLoaded: true, isSignedIn: !!user, userId: user ? user.userId : null, email: user ? user.email : null };
    commit();
  }
  function loginState() {
    return auth.isSignedIn ? "logged_in" : "anonymous";
  }
  function currentUserContext() {
    return { userId: auth.userId, userLoginState: loginState() };
  }

  // --- routing ---------------------------------------------------------------------------------
  function parseRoute(pathname) {
    var parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts.length === 0) return { name: "home" };
    if (parts[0] === "category" && parts.length === 2) return { name: "category", slug: parts[1] };
    if (parts[0] === "product" && parts.length === 2) {
      return productBySlug(parts[1]) ? { name: "product", slug: parts[1] } : { name: "not-found" };
    }
    if (parts.length === 1 && ["cart", "sign-in", "wishlist", "shop", "deal", "orders"].indexOf(parts[0]) >= 0) {
      return { name: parts[0] };
    }
    return { name: "not-found" };
  }

  // The mounted page: its route, and the inputs its tracker last ran with.
  var page = null;
  var providerInputs = null; // [pathname, search, userId, loginState] of the last page_view effect run
  var ui = {}; // per-page component state, reset when another page mounts
  var committed = false;

  function mount(pathname) {
    var route = parseRoute(pathname);
    if (page && page.pathname === pathname) {
      // Same URL again: Next re-renders the same page; only a product page gets a fresh
      // product object from the server, which re-runs its tracker.
      if (route.name === "product") page.productToken = {};
      return;
    }
    page = { pathname: pathname, route: route, trackerInputs: null, productToken: {} };
    ui = {};
  }

  function navigate(url, replace) {
    var target = new URL(url, location.href);
    if (replace) history.replaceState(null, "", target.pathname + target.search + target.hash);
    else history.pushState(null, "", target.pathname + target.search + target.hash);
    mount(target.pathname);
    window.scrollTo(0, 0);
    commit();
  }

  // router.push(): later, as a transition, never inside the click that asked for it.
  function push(url) {
    setTimeout(function () { navigate(url, false); }, 0);
  }

  window.addEventListener("popstate", function () {
    mount(location.pathname);
    commit();
  });

  // Registered before the tracker's listener, as React's root listener is.
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    var link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link || link.target || link.origin !== location.origin) return;
    event.preventDefault();
    push(link.href);
  });

  // ClickstreamProvider's global listener, reading the auth of the last commit.
  document.addEventListener("click", function (event) {
    T.trackClick({ event: event, userId: auth.userId, userLoginState: loginState() });
  }, { passive: true });

  function sameInputs(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  var TRACKERS = {
    home: {
      inputs: function () { return []; },
      send: function () { T.events.homeView(currentUserContext()); },
    },
    category: {
      inputs: function (route) { return [route.slug]; },
      // The storefront's category page passes the URL slug as both categoryId and categoryName.
      send: function (route) { T.events.categoryView({ categoryId: route.slug, categoryName: route.slug }, currentUserContext()); },
    },
    product: {
      inputs: function (route) { return [route.slug, page.productToken]; },
      send: function (route) { T.events.productView(productBySlug(route.slug), currentUserContext()); },
    },
  };

  function runEffects() {
    // Child first: the page tracker.
    var tracker = TRACKERS[page.route.name];
    if (tracker) {
      var inputs = [auth.isLoaded, auth.isSignedIn, auth.userId].concat(tracker.inputs(page.route));
      if (!sameInputs(inputs, page.trackerInputs)) {
        page.trackerInputs = inputs;
        if (auth.isLoaded) {
          window.__global_clickstream_ignore_pageview = true;
          tracker.send(page.route);
        }
      }
    }
    // Then the provider's page_view effect.
    var providerNow = [location.pathname, location.search, auth.userId, loginState()];
    if (!sameInputs(providerNow, providerInputs)) {
      providerInputs = providerNow;
      if (window.__global_clickstream_ignore_pageview === true) {
        delete window.__global_clickstream_ignore_pageview;
      } else {
        T.trackPageView(currentUserContext());
      }
    }
  }

  function commit() {
    render();
    runEffects();
    if (!committed) {
      committed = true;
      document.body.setAttribute("data-ready", "true");
    }
    document.body.setAttribute("data-route", page.route.name);
    document.body.setAttribute("data-auth", auth.isLoaded ? loginState() : "loading");
  }

  // --- rendering -------------------------------------------------------------------------------
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "on") Object.keys(value).forEach(function (type) { el.addEventListener(type, value[type]); });
      else if (key === "dataset") Object.keys(value).forEach(function (k) { el.dataset[k] = value[k]; });
      else if (key === "text") el.textContent = value;
      else if (key === "value") el.value = value;
      else el.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(parent, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(parent, c); });
    else parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  var SVG_NS = "http://www.w3.org/2000/svg";
  function trashIcon(attrs) {
    var svg = document.createElementNS(SVG_NS, "svg");
    Object.keys(attrs).forEach(function (k) { svg.setAttribute(k, attrs[k]); });
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", "M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    svg.appendChild(path);
    return svg;
  }

  var VND = new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND", maximumFractionDigits: 0 });
  function price(amount, attrs) {
    return h("span", Object.assign({ class: "price" }, attrs || {}), VND.format(Number(amount)));
  }
  // PriceView: the stored price is the sale price; the struck-out original is derived from it.
  function priceView(p, attrs) {
    var original = p.discount > 0 ? Math.round(p.price / (1 - p.discount / 100)) : null;
    return h("div", { class: "price-view" }, price(p.price, attrs), original ? h("s", { class: "price-original" }, VND.format(original)) : null);
  }

  function toast(message) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 2500);
  }

  function header() {
    var right = [
      h("a", { id: "header-cart", href: "/cart", dataset: { nav: "cart" } }, "Giỏ hàng"),
      h("span", { id: "cart-count", class: "badge" }, String(store.items.length)),
      h("a", { id: "header-wishlist", href: "/wishlist", dataset: { nav: "wishlist" } }, "Yêu thích"),
      h("span", { id: "wishlist-count", class: "badge" }, String(store.favoriteProduct.length)),
    ];
    // The SignedIn/SignedOut gates draw nothing until auth has loaded.
    if (auth.isLoaded && auth.isSignedIn) {
      right.push(h("a", { id: "header-orders", href: "/orders", dataset: { nav: "orders" } }, "Đơn hàng"));
      right.push(h("button", { id: "header-logout", type: "button", on: { click: signOut } }, "Đăng xuất"));
    } else if (auth.isLoaded) {
      right.push(h("a", { id: "header-login", href: "/sign-in", dataset: { nav: "sign-in" } }, "Login"));
    }
    return h("header", { id: "site-header" },
      h("a", { id: "logo", href: "/", class: "logo" }, "Shopcart"),
      h("nav", { class: "menu" },
        h("a", { id: "nav-home", href: "/", dataset: { nav: "home" } }, "Home"),
        h("a", { id: "nav-shop", href: "/shop", dataset: { nav: "shop" } }, "Shop"),
        h("a", { id: "nav-deal", href: "/deal", dataset: { nav: "deal" } }, "Hot Deal")),
      h("div", { class: "header-right" }, right));
  }

  function footer() {
    return h("footer", { id: "site-footer" },
      h("h4", {}, "Categories"),
      h("ul", {}, CATEGORIES.map(function (c) {
        return h("li", {}, h("a", { id: "footer-category-" + c.slug, href: "/category/" + c.slug, dataset: { category: c.slug } }, c.title));
      })));
  }

  function addToCartButton(p, idPrefix) {
    var count = itemCount(p._id);
    var suffix = idPrefix ? "-" + p.slug.current : "";
    if (count) {
      return h("div", { class: "quantity" },
        h("span", { class: "label" }, "Quantity"),
        quantityButtons(p, suffix),
        h("span", { class: "label" }, "Subtotal"),
        price(p.price * count, { id: "subtotal" + suffix }));
    }
    var outOfStock = p.stock === 0;
    return h("button", {
      id: "add-to-cart" + suffix, class: "add-to-cart", type: "button", disabled: outOfStock,
      "global-clickstream-ignore-click": "true", dataset: { productId: p._id },
      on: { click: function () { handleAddToCart(p); } },
    }, outOfStock ? "Out of Stock" : "Add to Cart");
  }

  function handleAddToCart(p) {
    if (p.stock > itemCount(p._id)) {
      addItem(p);
      toast(p.name.substring(0, 12) + "... added successfully!");
      T.events.addToCart(p, currentUserContext());
    } else {
      toast("Can not add more than available stock");
    }
    commit();
  }

  // QuantityButtons change the cart without any tracking call of their own.
  function quantityButtons(p, suffix) {
    var count = itemCount(p._id);
    return h("div", { class: "quantity-buttons" },
      h("button", {
        id: "qty-minus" + suffix, class: "qty-minus", type: "button", disabled: count === 0 || p.stock === 0,
        dataset: { action: "decrease", productId: p._id },
        on: { click: function () { removeOne(p._id); toast("Quantity Decreased successfully!"); commit(); } },
      }, "−"),
      h("span", { id: "qty-count" + suffix, class: "qty-count" }, String(count)),
      h("button", {
        id: "qty-plus" + suffix, class: "qty-plus", type: "button", disabled: p.stock === 0,
        dataset: { action: "increase", productId: p._id },
        on: {
          click: function () {
            if (p.stock > itemCount(p._id)) { addItem(p); toast("Quantity Increased successfully!"); }
            else toast("Can not add more than available stock");
            commit();
          },
        },
      }, "+"));
  }

  function productCard(p) {
    return h("div", { class: "product-card", dataset: { id: p._id, slug: p.slug.current } },
      h("p", { class: "card-category" }, p.categories.join(", ")),
      h("a", { id: "product-link-" + p.slug.current, class: "product-link", href: "/product/" + p.slug.current,
        dataset: { productId: p._id } }, p.name),
      priceView(p),
      addToCartButton(p, true));
  }

  function homePage() {
    var tab = ui.tab || TABS[0].value;
    var listed = PRODUCTS.filter(function (p) { return p.variant === tab; });
    return h("div", { id: "home" },
      h("section", { class: "banner" }, h("h1", {}, "Giảm giá đến 10% cho phụ kiện công nghệ")),
      h("div", { class: "tabs", role: "tablist" }, TABS.map(function (t) {
        return h("button", { id: "tab-" + t.value, type: "button", role: "tab", class: t.value === tab ? "tab active" : "tab",
          dataset: { tab: t.value }, on: { click: function () { ui.tab = t.value; commit(); } } }, t.title);
      })),
      h("div", { id: "product-grid", class: "grid" }, listed.length ? listed.map(productCard) : h("p", {}, "No products")),
      h("section", { id: "home-categories" },
        h("h2", {}, "Danh mục phổ biến"),
        h("ul", { class: "categories" }, CATEGORIES.map(function (c) {
          return h("li", {},
            h("a", { id: "category-link-" + c.slug, href: "/category/" + c.slug, dataset: { category: c.slug } }, c.title),
            h("span", { class: "count" }, " (" + inCategory(c.slug).length + ") Hiện có"));
        }))));
  }

  function categoryPage(route) {
    var listed = inCategory(route.slug);
    return h("div", { id: "category" },
      h("h1", {}, "Products by Category: ", h("span", { id: "category-slug" }, route.slug)),
      h("div", { class: "category-layout" },
        h("div", { class: "category-menu" }, CATEGORIES.map(function (c) {
          return h("button", {
            id: "category-tab-" + c.slug, type: "button", class: c.slug === route.slug ? "active" : null,
            dataset: { category: c.slug },
            on: { click: function () { if (c.slug !== route.slug) push("/category/" + c.slug); } },
          }, c.title);
        })),
        h("div", { id: "category-products", class: "grid" },
          listed.length ? listed.map(productCard) : h("p", { id: "no-products" }, "Không có sản phẩm"))));
  }

  function productPage(route) {
    var p = productBySlug(route.slug);
    var favorite = isFavorite(p._id);
    var related = PRODUCTS.filter(function (o) { return o._id !== p._id && o.categories[0] === p.categories[0]; });
    return h("div", { id: "product", dataset: { id: p._id } },
      h("h1", { id: "product-name" }, p.name),
      h("p", { class: "description" }, p.description),
      h("div", { id: "product-price" }, priceView(p)),
      h("p", { id: "product-stock", class: p.stock > 0 ? "in-stock" : "out-of-stock" }, p.stock > 0 ? "In Stock" : "Out of Stock"),
      h("div", { class: "buy-row" },
        addToCartButton(p, false),
        h("button", {
          id: "wishlist-toggle", type: "button", "global-clickstream-ignore-click": "true", "aria-label": "Yêu thích",
          class: favorite ? "heart on" : "heart", dataset: { active: String(favorite) },
          on: { click: function (event) { handleFavorite(event, p, favorite); } },
        }, favorite ? "♥" : "♡")),
      h("dl", { class: "characteristics" },
        h("dt", {}, "Brand"), h("dd", {}, p.brandName),
        h("dt", {}, "Loại"), h("dd", {}, p.variant),
        h("dt", {}, "Kho"), h("dd", {}, String(p.stock))),
      h("div", { class: "actions" },
        h("div", { id: "compare-color", role: "button", tabindex: "0", dataset: { action: "compare-color" } }, "Compare color"),
        h("div", { id: "ask-question", role: "button", tabindex: "0", dataset: { action: "ask-question" } }, "Ask a question"),
        h("div", { id: "delivery-return", role: "button", tabindex: "0", dataset: { action: "delivery-return" } }, "Delivery & Return"),
        h("div", { id: "share", role: "button", tabindex: "0", dataset: { action: "share" } }, "Share")),
      related.length ? h("section", { id: "related" },
        h("h2", {}, "Sản phẩm liên quan"),
        h("ul", {}, related.map(function (o) {
          return h("li", {}, h("a", { id: "related-" + o.slug.current, href: "/product/" + o.slug.current,
            dataset: { productId: o._id } }, o.name));
        }))) : null);
  }

  // FavoriteButton: its own event instead of the generic click. The native event is not stopped:
  // in React, stopPropagation only stops React's tree, so the global listener still runs and
  // consumes the click-once flag.
  function handleFavorite(event, p, wasFavorite) {
    event.preventDefault();
    window.__global_clickstream_ignore_click_once = true;
    var user = currentUserContext();
    toggleFavorite(p).then(function () {
      toast(wasFavorite ? "Product removed successfully!" : "Product added successfully!");
      T.events.wishlistToggle(p, !wasFavorite, user);
      commit();
    });
  }

  function noAccess() {
    return h("div", { id: "no-access", class: "card" },
      h("h2", {}, "Welcome Back!"),
      h("p", {}, "Log in to view your cart items and checkout. Don't miss out on your favorite products!"),
      h("a", { class: "button", href: "/sign-in", dataset: { nav: "sign-in" } }, "Sign in"),
      h("p", { class: "muted" }, "Don’t have an account?"),
      h("a", { class: "button outline", href: "/sign-in", dataset: { nav: "sign-up" } }, "Create an account"));
  }

  function cartPage() {
    var content;
    if (!auth.isSignedIn) {
      // The storefront shows the cart only to a signed-in shopper.
      content = noAccess();
    } else if (!store.items.length) {
      content = h("div", { id: "empty-cart", class: "card" },
        h("h2", {}, "Giỏ hàng trống"),
        h("a", { id: "empty-cart-shop", href: "/", dataset: { nav: "home" } }, "Tiếp tục mua sắm"));
    } else {
      content = h("div", { id: "cart", class: "cart-layout" },
        h("div", { class: "cart-lines" }, store.items.map(function (line) {
          var p = line.product;
          return h("div", { class: "cart-line", dataset: { id: p._id } },
            h("a", { class: "cart-line-name", href: "/product/" + p.slug.current }, p.name),
            h("p", {}, "Loại: ", h("strong", {}, p.variant)),
            h("p", {}, "Trạng thái: ", h("strong", {}, p.status)),
            h("span", { class: "remove-trigger", title: "Xóa sản phẩm" },
              withClick(trashIcon({ class: "cart-remove", "data-id": p._id, "global-clickstream-ignore-click": "true",
                "aria-label": "Xóa sản phẩm" }), function () { handleRemove(p); })),
            price(p.price * line.quantity, { class: "price line-total" }),
            quantityButtons(p, "-" + p.slug.current));
        })),
        h("div", { class: "summary card" },
          h("h2", {}, "Tóm tắt đơn hàng"),
          h("div", { class: "row" }, h("span", {}, "Tạm tính"), price(subTotalPrice(), { id: "cart-subtotal" })),
          h("div", { class: "row" }, h("span", {}, "Giảm giá"), price(subTotalPrice() - totalPrice(), { id: "cart-discount" })),
          h("div", { class: "row total" }, h("span", {}, "Tổng tiền"), price(totalPrice(), { id: "cart-total" })),
          h("button", { id: "checkout", type: "button", disabled: !!ui.checkingOut, "global-clickstream-ignore-click": "true",
            on: { click: handleCheckout } }, ui.checkingOut ? "Đang thanh toán..." : "Thanh toán")));
    }
    return h("div", { id: "cart-page" },
      content,
      ui.checkoutDone ? h("div", { id: "checkout-success", class: "overlay" },
        h("div", { class: "card" },
          h("h2", {}, "Thanh toán thành công!"),
          h("p", {}, "Đơn hàng của bạn đã được ghi nhận. Cảm ơn bạn đã mua sắm tại Shopcart."),
          h("button", { id: "checkout-success-close", type: "button", on: { click: function () { ui.checkoutDone = false; commit(); } } },
            "Đóng"))) : null);
  }

  function withClick(el, handler) {
    el.addEventListener("click", handler);
    return el;
  }

  function handleRemove(p) {
    T.events.removeFromCart(p, currentUserContext());
    deleteCartProduct(p._id);
    toast("Đã xóa sản phẩm khỏi giỏ hàng!");
    commit();
  }

  function handleCheckout() {
    if (!store.items.length) { toast("Giỏ hàng đang trống!"); return; }
    if (!auth.isSignedIn) { toast("Bạn cần đăng nhập trước khi thanh toán."); return; }
    var user = currentUserContext();
    var state = ui;
    state.checkingOut = true;
    T.events.checkoutStart({ total: totalPrice(), itemCount: store.items.length }, user);
    commit();
    // The storefront only pretends to process the payment, for 1.5 s, with no order id.
    setTimeout(function () {
      T.events.checkoutComplete({ total: totalPrice() }, user);
      resetCart();
      state.checkingOut = false;
      state.checkoutDone = true;
      toast("Thanh toán thành công! Đơn hàng của bạn đã được ghi nhận.");
      commit();
    }, 1500);
  }

  function signInPage() {
    if (auth.isLoaded && auth.isSignedIn && !ui.redirecting) {
      // An authenticated visitor is sent home right away.
      ui.redirecting = true;
      push("/");
    }
    var form = ui.form || (ui.form = { email: DEMO_USER.email, password: "Sbw-demo-2025!" });
    return h("div", { id: "sign-in" },
      h("form", { id: "sign-in-form", class: "card", on: { submit: handleSignIn } },
        h("h1", {}, "Sign in"),
        h("label", { for: "sign-in-email" }, "Email"),
        h("input", { id: "sign-in-email", name: "username", type: "email", autocomplete: "username", value: form.email,
          on: { input: function (e) { form.email = e.target.value; } } }),
        h("label", { for: "sign-in-password" }, "Password"),
        h("input", { id: "sign-in-password", name: "password", type: "password", autocomplete: "current-password",
          value: form.password, on: { input: function (e) { form.password = e.target.value; } } }),
        h("button", { id: "sign-in-submit", type: "submit", disabled: !!ui.signingIn }, ui.signingIn ? "Signing in…" : "Sign in")));
  }

  // The Amplify authenticator signs in (a network round trip), then the page refreshes the auth
  // context (one commit: the provider sees a new userId and sends page_view for /sign-in) and
  // asks the router for the home page (a later commit: home_view).
  function handleSignIn(event) {
    event.preventDefault();
    if (ui.signingIn) return;
    var state = ui;
    state.signingIn = true;
    commit();
    setTimeout(function () {
      storeSession(DEMO_USER);
      state.signingIn = false;
      state.redirecting = true;
      syncAuth();
      setTimeout(function () { navigate("/", false); }, 30);
    }, 200);
  }

  // React commits the new auth in a later task, so the "Đăng xuất" click itself is still
  // reported with the signed-in user.
  function signOut() {
    clearSession();
    setTimeout(syncAuth, 0);
  }

  function simplePage(id, title, products) {
    return h("div", { id: id },
      h("h1", {}, title),
      h("div", { class: "grid" }, products.length ? products.map(productCard) : h("p", {}, "Không có sản phẩm")));
  }

  function wishlistPage() {
    var ids = store.favoriteProduct.map(function (p) { return p._id; });
    return simplePage("wishlist", "Danh sách yêu thích", PRODUCTS.filter(function (p) { return ids.indexOf(p._id) >= 0; }));
  }

  function ordersPage() {
    if (!auth.isSignedIn) return noAccess();
    return h("div", { id: "orders" }, h("h1", {}, "Đơn hàng"), h("p", {}, "Chưa có đơn hàng."));
  }

  function notFoundPage() {
    return h("div", { id: "not-found" }, h("h1", {}, "404"), h("a", { id: "not-found-home", href: "/" }, "Về trang chủ"));
  }

  function render() {
    var route = page.route;
    var body;
    switch (route.name) {
      case "home": body = homePage(); break;
      case "category": body = categoryPage(route); break;
      case "product": body = productPage(route); break;
      case "cart": body = cartPage(); break;
      case "sign-in": body = signInPage(); break;
      case "wishlist": body = wishlistPage(); break;
      case "shop": body = simplePage("shop", "Shop", PRODUCTS); break;
      case "deal": body = simplePage("deal", "Hot Deal", PRODUCTS.filter(function (p) { return p.status === "hot"; })); break;
      case "orders": body = ordersPage(); break;
      default: body = notFoundPage();
    }
    var app = document.getElementById("app");
    app.textContent = "";
    // The sign-in page sits outside the storefront's layout: no header, no footer.
    if (route.name !== "sign-in") app.appendChild(header());
    app.appendChild(h("main", { id: "page" }, body));
    if (route.name !== "sign-in") app.appendChild(footer());
    var title = { home: "Shopcart online store", cart: "Giỏ hàng", "sign-in": "Sign in" }[route.name];
    document.title = (title || route.name) + " - Shopcart online store";
  }

  // --- read-only helpers for tests ------------------------------------------------------------
  function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  window.SbwShop = Object.freeze({
    ready: function () { return committed; },
    authLoaded: function () { return auth.isLoaded; },
    route: function () { return page ? page.route.name : null; },
    clientId: function () { return T.clientId(); },
    sessionId: function () { return T.sessionId(); },
    userId: function () { return auth.userId; },
    demoUser: function () { return clone(DEMO_USER); },
    cartTotal: function () { return totalPrice(); },
    cartItems: function () {
      return store.items.map(function (i) {
        return { id: i.product._id, slug: i.product.slug.current, name: i.product.name, price: i.product.price, quantity: i.quantity };
      });
    },
    favorites: function () { return store.favoriteProduct.map(function (p) { return p._id; }); },
    catalog: function () { return clone({ products: PRODUCTS, categories: CATEGORIES }); },
    // Every request the tracker made, as {url, body, init, status}, oldest first.
    get sent() { return T.records(); },
    events: function () { return T.records().map(function (r) { return JSON.parse(r.body); }); },
    pending: function () { return T.pending(); },
    settled: function () { return T.settled(); },
  });

  // First render with auth not loaded yet, then Cognito answers.
  mount(location.pathname);
  commit();
  setTimeout(syncAuth, 0);
})();
