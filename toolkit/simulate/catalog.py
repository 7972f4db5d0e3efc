"""The demo catalog (storefront/catalog.json, linked as sql/oltp/demo_catalog.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CATALOG_PATH = REPO / "sql" / "oltp" / "demo_catalog.json"


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    category: str
    brand: str
    price: float
    discount_price: float | None
    url_path: str
    stock: int

    @property
    def unit_price(self) -> float:
        return self.discount_price if self.discount_price is not None else self.price


@dataclass(frozen=True, slots=True)
class Catalog:
    currency: str
    products: tuple[Product, ...]

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.category for p in self.products))


def load_catalog(path: str | Path = CATALOG_PATH) -> Catalog:
    with Path(path).open(encoding="utf-8") as f:
        doc = json.load(f)
    fields = Product.__slots__
    products = tuple(Product(**{k: row[k] for k in fields}) for row in doc["products"])
    if not products:
        raise ValueError(f"{path}: the catalog has no products")
    return Catalog(currency=doc.get("currency", "EUR"), products=products)
