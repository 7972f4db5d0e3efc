"""ISO 4217 currency codes: the store's default currency is checked against this list.

The list is data (``iso4217.txt``: the active codes of circulating currencies, one a line),
not a pattern: ``EUO`` has three upper-case letters and is no currency.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_LIST = Path(__file__).with_name("iso4217.txt")


@cache
def active_codes() -> dict[str, str]:
    """Code -> name of every active ISO 4217 code of a circulating currency."""
    codes = {}
    for line in _LIST.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            codes[code] = name
    return codes


def is_active(code: object) -> bool:
    return isinstance(code, str) and code in active_codes()


def check_store_currency(code: str, setting: str) -> str:
    """``code`` when it is an active ISO 4217 code in upper case; ValueError naming ``setting``."""
    if not is_active(code):
        hint = " (codes are upper case)" if isinstance(code, str) and is_active(code.upper()) else ""
        raise ValueError(f"{setting}: {code!r} is not an active ISO 4217 currency code{hint}, such as EUR, USD"
                         " or VND")
    return code
