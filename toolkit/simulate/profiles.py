"""Who visits the demo shop: acquisition channels with UTM campaigns, devices, crawlers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    weight: float
    referrer: str | None
    utm: dict[str, str] = field(default_factory=dict)
    # Where the first page of the visit is: "home", "category" or "product".
    landings: tuple[tuple[str, float], ...] = (("home", 1.0),)
    conversion: float = 1.0  # multiplier on the funnel's step probabilities
    focus_categories: tuple[str, ...] = ()  # a campaign's products are viewed more
    click_id: str | None = None  # ad click id the landing URL carries (gclid, fbclid)
    returning: float = 1.0  # weight multiplier when a returning visitor comes back through it


CHANNELS: tuple[Channel, ...] = (
    Channel("google_organic", 0.24, "https://www.google.com/",
            landings=(("product", 0.6), ("category", 0.25), ("home", 0.15)), returning=1.0),
    Channel("bing_organic", 0.04, "https://www.bing.com/",
            landings=(("product", 0.5), ("category", 0.3), ("home", 0.2)), returning=1.0),
    Channel("google_cpc", 0.13, "https://www.google.com/",
            {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand_search"},
            (("product", 0.7), ("category", 0.3)), 1.1, ("Laptops", "Phones"), click_id="gclid", returning=0.5),
    Channel("google_cpc_sale", 0.05, "https://www.google.com/",
            {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "black_friday"},
            (("category", 0.6), ("product", 0.4)), 1.2, ("Monitors", "Audio"), click_id="gclid", returning=0.5),
    Channel("facebook", 0.09, "https://l.facebook.com/",
            {"utm_source": "facebook", "utm_medium": "paid_social", "utm_campaign": "winter_sale"},
            (("product", 0.5), ("category", 0.5)), 0.75, ("Wearables", "Audio"), click_id="fbclid", returning=0.5),
    Channel("instagram", 0.04, "https://l.instagram.com/",
            landings=(("product", 0.7), ("home", 0.3)), conversion=0.6, focus_categories=("Wearables", "Gaming"),
            returning=0.6),
    Channel("newsletter", 0.08, None,
            {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "weekly_deals"},
            (("product", 0.5), ("category", 0.3), ("home", 0.2)), 1.35, ("Accessories", "Smart Home"),
            returning=2.5),
    Channel("direct", 0.22, None, landings=(("home", 0.8), ("product", 0.2)), conversion=1.2, returning=2.5),
    Channel("techradar", 0.07, "https://www.techradar-demo.example/best-laptops",
            {"utm_source": "techradar", "utm_medium": "referral", "utm_campaign": "review"},
            (("product", 0.9), ("home", 0.1)), 0.9, ("Laptops",), returning=0.7),
    Channel("gadget_blog", 0.04, "https://gadget-blog.example/2026/11/smart-home-picks/",
            landings=(("product", 0.8), ("category", 0.2)), conversion=0.9, focus_categories=("Smart Home",),
            returning=0.7),
)


@dataclass(frozen=True, slots=True)
class Device:
    kind: str  # desktop | mobile | tablet | bot
    weight: float
    user_agents: tuple[str, ...]
    conversion: float = 1.0


DEVICES: tuple[Device, ...] = (
    Device("desktop", 0.45, (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    ), 1.1),
    Device("mobile", 0.45, (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.39 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    ), 0.75),
    Device("tablet", 0.10, (
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ), 0.95),
)

# Crawlers that execute JavaScript, so the tracker fires for them too.
BOT = Device("bot", 0.0, (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) "
    "Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
))

# Share of sessions per hour of day (UTC; the shop's customers are in Europe).
HOURLY_WEIGHTS: tuple[float, ...] = (
    0.8, 0.5, 0.3, 0.2, 0.2, 0.3, 0.7, 1.4, 2.0, 2.4, 2.6, 2.9,
    3.4, 3.3, 2.8, 2.7, 2.9, 3.3, 4.1, 4.8, 5.0, 4.4, 3.0, 1.6,
)
# Monday .. Sunday
WEEKDAY_WEIGHTS: tuple[float, ...] = (1.0, 0.95, 0.95, 1.0, 1.05, 1.2, 1.25)

# Funnel step probabilities before channel/device/returning multipliers.
P_ADD_TO_CART = 0.14
P_BEGIN_CHECKOUT = 0.42
P_PURCHASE = 0.42

# The warehouse channel each simulated channel must come out as (the ETL's rules,
# docs/warehouse.md); the tests hold the simulator to it.
EXPECTED_CHANNEL: dict[str, str] = {
    "google_organic": "organic_search",
    "bing_organic": "organic_search",
    "google_cpc": "paid_search",
    "google_cpc_sale": "paid_search",
    "facebook": "social",
    "instagram": "social",
    "newsletter": "email",
    "direct": "direct",
    "techradar": "referral",
    "gadget_blog": "referral",
}

# Names for the demo accounts visitors log in with (the storefront logs in "u-<name>").
FIRST_NAMES: tuple[str, ...] = (
    "anna", "ben", "chloe", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "klara", "luca",
    "mia", "noah", "olivia", "paul", "quinn", "rosa", "sam", "tara", "umar", "vera", "wim", "yara", "zoe",
)

# What visitors type into the storefront's search box (it matches name, brand and category).
SEARCH_TERMS: tuple[str, ...] = (
    "laptop", "headphones", "monitor", "phone", "watch", "speaker", "tablet", "charger", "aero", "northwind",
    "kestrel", "gaming", "usb-c", "4k", "smart", "keyboard", "mouse", "earbuds", "camera", "pro",
)
