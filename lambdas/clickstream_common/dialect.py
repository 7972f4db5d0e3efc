"""Tracker dialects: how one source's events map onto the event contract, as data.

A store's tracker rarely sends the contract exactly. Each dialect is a JSON file in
``dialects/`` beside this module, checked against ``dialect.schema.json`` and the semantic
checks below when it is first loaded (an error names the file and the rule), and applied the
same way by the ingest (before it validates an event) and the ETL (before it builds the row).
Raw objects keep the events as they were sent, with the dialect's name in ``_ingest``, so a
corrected dialect can be applied again to data already loaded (``invoke_etl.py --reprocess``).

Applying a dialect to an event whose keys are already folded (``contract.normalize_keys``)
gives the mapped event, its event type and its page role::

    mapped = dialect.get("sbw_nextjs").map(contract.normalize_keys(event))
    mapped.event, mapped.event_type, mapped.page_role

Nothing here runs at import: the files are read on first use.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from . import contract
from .contract import ContractError, Rejection

DIALECTS_DIR = Path(__file__).with_name("dialects")
SCHEMA_PATH = Path(__file__).with_name("dialect.schema.json")
NATIVE = "clickstream"  # the contract itself: what our tracker and the ingest's own format send
# Raw objects the seed system's ingest wrote before this platform existed (event-<uuid>.json,
# an _ingest block in camelCase): recognised by that shape alone (see for_raw_record).
SEED_LEGACY = "seed_legacy"

PAGE_ROLES = ("view", "impression")
# Where paths may lead: the contract's own objects are folded to snake_case (their keys are the
# contract's), element.dataset keeps its keys as sent; anything else is the source's own.
_CONTRACT_OBJECTS = frozenset({"product", "element"})
_AMOUNT_LIMIT = Decimal(10) ** 10  # the contract's amount: at most 10 integer digits
_QUANTUM = Decimal("0.000001")  # ...and 6 decimal places


class DialectError(ValueError):
    """A dialect file that cannot be used: names the file and what is wrong in it."""


_MISSING = object()


def _empty(value: Any) -> bool:
    return value is _MISSING or value is None or (type(value) is str and not value.strip())


def _get(event: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = event
    for part in path:
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _parent(event: dict[str, Any], path: tuple[str, ...], create: bool) -> dict[str, Any] | None:
    """The dict holding ``path``'s last key, copied on the way down (the caller's event and the
    raw record it came from are never changed); None when a step is missing or not an object."""
    node = event
    for part in path[:-1]:
        child = node.get(part)
        if isinstance(child, dict):
            child = dict(child)
        elif create and child is None:
            child = {}
        else:
            return None
        node[part] = child
        node = child
    return node


def _put(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = _parent(event, path, create=True)
    if node is None:
        raise ContractError(Rejection("wrong_type", ".".join(path[:-1]),
                                      f"{'.'.join(path[:-1])} must be an object to hold {path[-1]}"))
    if path[-1] in _CONTRACT_OBJECTS and len(path) == 1 and isinstance(value, dict):
        # An object moved into product/element takes the contract's spellings, as if sent there.
        value = contract.normalize_keys({path[0]: value})[path[0]]
    node[path[-1]] = value


def _delete(event: dict[str, Any], path: tuple[str, ...]) -> None:
    if _get(event, path) is _MISSING:
        return
    node = _parent(event, path, create=False)
    if node is not None:
        node.pop(path[-1], None)


# Amounts written for people: "179100", "1,234.50", "1.234,50", "€ 12", "179.100 ₫", "12 500 Kč".
# A currency mark is a sign (₫, €, US$) or a code or local abbreviation of at most 3 letters
# (VND, Kč, zł, kr.) before or after the digits; "about 20" is not an amount.
_LEADING_MARK = re.compile(r"^([^\d\s.,+-]{1,4}\.?)(?=[\s\d])\s*")
_TRAILING_MARK = re.compile(r"(?<=[\s\d])\s*([^\d\s.,+-]{1,4}\.?)$")


def _is_mark(token: str) -> bool:
    token = token.removesuffix(".")
    letters = sum(c.isalpha() for c in token)
    return bool(token) and letters <= 3 and all(c.isalpha() or unicodedata.category(c) == "Sc" for c in token)


def _without_marks(text: str) -> str:
    text = text.strip()
    for pattern in (_LEADING_MARK, _TRAILING_MARK):
        found = pattern.search(text)
        if found and _is_mark(found.group(1)):
            text = text[:found.start()] + text[found.end():]
    return text.strip()
_GROUPED = {".": re.compile(r"\d{1,3}(?:[, '\u00a0\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"),
            ",": re.compile(r"\d{1,3}(?:[. '\u00a0\u202f]\d{3})+(?:,\d+)?|\d+(?:,\d+)?")}


def parse_amount(value: Any, decimal_mark: str = ".") -> Decimal:
    """A money amount from a number or from text as a store writes it; ValueError says why not.

    Currency signs and codes around the digits go, thousands marks (the other of "," and ".",
    spaces, apostrophes) go when they group digits by three, and the decimal mark is the
    dialect's. More than 6 decimal places are rounded (JavaScript's String(0.1 + 0.2)).
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    elif isinstance(value, str):
        text = _without_marks(value)
        if not _GROUPED[decimal_mark].fullmatch(text):
            raise ValueError(f"not an amount: {value!r}")
        digits = re.sub(r"[^\d]", "", text[: text.rfind(decimal_mark)] if decimal_mark in text else text)
        fraction = text[text.rfind(decimal_mark) + 1:] if decimal_mark in text else ""
        amount = Decimal(f"{digits}.{fraction}" if fraction else digits)
    else:
        raise ValueError(f"not an amount: {value!r}")
    if not amount.is_finite() or amount < 0 or amount >= _AMOUNT_LIMIT:
        raise ValueError(f"amount out of range: {value!r}")
    return amount.quantize(_QUANTUM, ROUND_HALF_EVEN).normalize() if amount.as_tuple().exponent < -6 else amount


def _amount_text(amount: Decimal) -> str:
    """The contract's decimal-string form of an amount ("179100", "12.5")."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class Mapped(NamedTuple):
    event: dict[str, Any]
    event_type: str
    page_role: str | None


Step = Callable[[dict[str, Any], list[str | None]], None]  # (event, [event type override]) -> None


@dataclass(frozen=True, slots=True)
class _Rule:
    index: int
    events: frozenset[str] | None
    when: tuple[tuple[tuple[str, ...], tuple[Any, ...]], ...]
    step: Step

    def applies(self, name: str, event_type: str, event: dict[str, Any]) -> bool:
        if self.events is not None and name not in self.events and event_type not in self.events:
            return False
        return all(_get(event, path) in values for path, values in self.when)


@dataclass(slots=True)
class Dialect:
    """One dialect, its parents' tables and rules folded in."""

    name: str
    title: str
    source: str
    decimal_mark: str = "."
    event_types: dict[str, str] = field(default_factory=dict)
    page_events: dict[str, str | None] = field(default_factory=dict)
    rules: tuple[_Rule, ...] = ()
    chain: tuple[str, ...] = ()  # this dialect, then its parents
    _by_name: dict[str, tuple[str, str, str | None, tuple[_Rule, ...]]] = field(default_factory=dict)

    def classify(self, event_name: str) -> tuple[str, str, str | None, tuple[_Rule, ...]]:
        """(folded name, event type, page role, rules that may apply) of an event name, cached."""
        found = self._by_name.get(event_name)
        if found is None:
            key = contract.event_name_key(event_name)
            event_type = self.event_types.get(key) or contract.canonical_event_name(event_name)
            role = self.page_events[key] if key in self.page_events else self.page_events.get(event_type)
            rules = tuple(r for r in self.rules if r.events is None or key in r.events or event_type in r.events)
            if len(self._by_name) >= 4096:  # names are client input: keep the cache bounded
                self._by_name.clear()
            found = self._by_name[event_name] = (key, event_type, role, rules)
        return found

    def map(self, event: dict[str, Any]) -> Mapped:
        """The event (keys already folded) as the contract has it; ContractError when a value the
        dialect converts cannot be read. The input is never changed."""
        name = event.get("event_name")
        if type(name) is not str:
            return Mapped(event, "", None)  # validation names the problem
        key, event_type, role, rules = self.classify(name)
        if not rules:
            return Mapped(event, event_type, role)
        out = dict(event)
        override: list[str | None] = [None]
        for rule in rules:
            if rule.applies(key, event_type, out):
                rule.step(out, override)
        if override[0] is not None:
            event_type = override[0]
            role = self.page_events.get(event_type, role)
        return Mapped(out, event_type, role)

    def validate(self, event: Any) -> Mapped:
        """Fold, map and validate one event as sent: the ingest's and the ETL's one path."""
        if not self.rules:
            normalized = contract.validate(event)
            _, event_type, role, _ = self.classify(normalized["event_name"])
            return Mapped(normalized, event_type, role)
        if not isinstance(event, dict):
            raise ContractError(Rejection("not_an_object", None, "an event must be a JSON object"))
        mapped = self.map(contract.normalize_keys(event))
        return Mapped(contract.validate(mapped.event), mapped.event_type, mapped.page_role)


# --- compiling rules -------------------------------------------------------------------------

def _path(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def _convert_amount(value: Any, field_name: str, decimal_mark: str) -> Any:
    if _empty(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value  # the contract checks its range
    try:
        return _amount_text(parse_amount(value, decimal_mark))
    except ValueError as exc:
        raise ContractError(Rejection("bad_amount", field_name, f"{field_name}: {exc}")) from None


def _convert_text(value: Any, field_name: str, decimal_mark: str) -> Any:
    if _empty(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


_CONVERTERS = {"amount": _convert_amount, "text": _convert_text}


def _set_step(rule: dict[str, Any], decimal_mark: str) -> Step:
    target = _path(rule["set"])
    sources = [_path(p) for p in rule.get("from", ())]
    constant = rule.get("value", _MISSING)
    present = [_path(p) for p in rule.get("when_present", ())]
    override = rule.get("override", False)
    convert = _CONVERTERS[rule["convert"]] if "convert" in rule else None

    def step(event: dict[str, Any], _: list[str | None]) -> None:
        if not override and not _empty(_get(event, target)):
            return
        for source in sources:
            value = _get(event, source)
            if not _empty(value):
                _put(event, target, convert(value, ".".join(source), decimal_mark) if convert else value)
                return
        if constant is not _MISSING and (not present or any(not _empty(_get(event, p)) for p in present)):
            _put(event, target, constant)

    return step


def _move_step(rule: dict[str, Any], decimal_mark: str) -> Step:
    source, target = _path(rule["move"]), _path(rule["to"])

    def step(event: dict[str, Any], _: list[str | None]) -> None:
        value = _get(event, source)
        if value is _MISSING:
            return
        _delete(event, source)
        if not _empty(value) and _empty(_get(event, target)):
            _put(event, target, value)

    return step


def _drop_step(rule: dict[str, Any], decimal_mark: str) -> Step:
    path = _path(rule["drop"])
    return lambda event, _: _delete(event, path)


def _convert_step(rule: dict[str, Any], decimal_mark: str) -> Step:
    path = _path(rule["convert"])
    name = rule["convert"]
    if rule["with"] == "amount":
        def step(event: dict[str, Any], _: list[str | None]) -> None:
            value = _get(event, path)
            if value is not _MISSING:
                _put(event, path, _convert_amount(value, name, decimal_mark))
        return step

    paid_path = _path(rule["paid_price"])
    quantum = Decimal(1).scaleb(-rule.get("decimals", 2))
    price_from = Decimal(str(rule["price_from"])) if "price_from" in rule else None

    def percent_off(event: dict[str, Any], _: list[str | None]) -> None:
        percent = _get(event, path)
        if percent is _MISSING:
            return
        paid = _get(event, paid_path)
        if _empty(percent) or _empty(paid):
            # A percentage without the price it comes off says nothing about a price.
            _put(event, path, None)
            return
        try:
            share = parse_amount(percent, decimal_mark)
        except ValueError as exc:
            raise ContractError(Rejection("bad_discount", name, f"{name}: {exc}")) from None
        if price_from is not None and share >= price_from:
            _put(event, path, _amount_text(share))  # already a price
            return
        if share >= 100:
            raise ContractError(Rejection("bad_discount", name,
                                          f"{name} is a percentage off and must be below 100: {percent!r}"))
        if share == 0:
            _put(event, path, None)
            return
        try:
            paid_amount = parse_amount(paid, decimal_mark)
        except ValueError as exc:
            raise ContractError(Rejection("bad_amount", rule["paid_price"], f"{rule['paid_price']}: {exc}")) from None
        listed = (paid_amount * 100 / (100 - share)).quantize(quantum, ROUND_HALF_EVEN)
        _put(event, paid_path, _amount_text(listed))
        _put(event, path, _amount_text(paid_amount))

    return percent_off


def _event_type_step(rule: dict[str, Any], decimal_mark: str) -> Step:
    event_type = rule["event_type"]

    def step(event: dict[str, Any], override: list[str | None]) -> None:
        override[0] = event_type

    return step


_STEPS = {"set": _set_step, "move": _move_step, "drop": _drop_step, "convert": _convert_step,
          "event_type": _event_type_step}


# --- loading ---------------------------------------------------------------------------------

@cache
def _schema_validator():
    import fastjsonschema

    with SCHEMA_PATH.open(encoding="utf-8") as f:
        return fastjsonschema.compile(json.load(f))


def names() -> list[str]:
    """Every dialect shipped, by name."""
    return sorted(p.stem for p in DIALECTS_DIR.glob("*.json"))


def _read(name: str, directory: Path) -> dict[str, Any]:
    path = directory / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json")))
        raise DialectError(f"unknown dialect {name!r} (known: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DialectError(f"{path.name}: not JSON: {exc}") from None
    try:
        _schema_validator()(data)
    except Exception as exc:  # fastjsonschema.JsonSchemaValueException
        if not hasattr(exc, "message"):
            raise
        raise DialectError(f"{path.name}: {exc.message.replace('data', 'dialect', 1)}") from None
    if data["name"] != name:
        raise DialectError(f"{path.name}: name {data['name']!r} must match the file name")
    return data


def _check_path(text: str, where: str) -> None:
    parts = text.split(".")
    if contract.snake_case(parts[0]) != parts[0]:
        raise DialectError(f"{where}: {text!r} must name the field in snake_case ({contract.snake_case(parts[0])})")
    if parts[0] in _CONTRACT_OBJECTS and len(parts) > 1 and not (parts[0] == "element" and parts[1] == "dataset"):
        if contract.snake_case(parts[1]) != parts[1]:
            raise DialectError(f"{where}: {text!r}: {parts[0]}'s fields are folded to snake_case"
                               f" ({contract.snake_case(parts[1])})")
        if len(parts) > 2:
            raise DialectError(f"{where}: {text!r}: {parts[0]}.{parts[1]} holds no fields")


def _check_type(event_type: str, where: str) -> None:
    if event_type not in contract.canonical_events() and contract.canonical_event_name(event_type) != event_type:
        raise DialectError(f"{where}: {event_type!r} is a spelling of {contract.canonical_event_name(event_type)!r};"
                           " name the canonical event type")


def _compile(data: dict[str, Any], file_name: str, decimal_mark: str) -> tuple[_Rule, ...]:
    rules = []
    for index, rule in enumerate(data.get("rules", ())):
        where = f"{file_name}: rules[{index}]"
        kinds = [k for k in _STEPS if k in rule and not (k == "convert" and "set" in rule)]
        if len(kinds) != 1:
            raise DialectError(f"{where}: a rule does one thing: set, move, drop, convert or event_type"
                               f" (this one: {', '.join(kinds) or 'none'})")
        kind = kinds[0]
        if kind == "set" and "from" not in rule and "value" not in rule:
            raise DialectError(f"{where}: set needs from or value")
        if kind != "move" and "to" in rule:
            raise DialectError(f"{where}: to belongs to a move rule")
        for key in ("set", "move", "to", "drop", "paid_price"):
            if key in rule:
                _check_path(rule[key], f"{where}.{key}")
        if kind == "convert":
            _check_path(rule["convert"], f"{where}.convert")
        for key in ("from", "when_present"):
            for i, text in enumerate(rule.get(key, ())):
                _check_path(text, f"{where}.{key}[{i}]")
        for text in rule.get("when", {}):
            _check_path(text, f"{where}.when")
        if kind == "set" and "convert" in rule and rule["convert"] not in _CONVERTERS:
            raise DialectError(f"{where}.convert: {rule['convert']!r} is not a converter ({', '.join(_CONVERTERS)})")
        if kind == "convert" and (rule["with"] == "percent_off") != ("paid_price" in rule):
            raise DialectError(f"{where}: paid_price goes with, and only with, percent_off")
        if kind != "convert" and any(k in rule for k in ("with", "paid_price", "decimals", "price_from")):
            raise DialectError(f"{where}: with/paid_price/decimals/price_from belong to a convert rule")
        if kind == "convert" and rule["with"] != "percent_off" and ("decimals" in rule or "price_from" in rule):
            raise DialectError(f"{where}: decimals/price_from belong to percent_off")
        if "value" in rule and "from" not in rule and kind == "set" and "convert" in rule:
            raise DialectError(f"{where}: a constant value needs no convert")
        if kind == "event_type":
            _check_type(rule["event_type"], f"{where}.event_type")
        when = tuple((_path(p), tuple(v) if isinstance(v, list) else (v,)) for p, v in rule.get("when", {}).items())
        events = frozenset(rule["events"]) if "events" in rule else None
        rules.append(_Rule(index, events, when, _STEPS[kind](rule, decimal_mark)))
    return tuple(rules)


def load(name: str, directory: Path | None = None) -> Dialect:
    """A dialect and its parents, validated; DialectError says what is wrong and where."""
    directory = directory or DIALECTS_DIR
    chain: list[dict[str, Any]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            raise DialectError(f"{name}.json: extends itself through {' -> '.join([*seen, current])}")
        seen.append(current)
        chain.append(_read(current, directory))
        current = chain[-1].get("extends")
    decimal_mark = next((d["decimal_mark"] for d in chain if "decimal_mark" in d), ".")
    event_types: dict[str, str] = {}
    page_events: dict[str, str | None] = {}
    rules: list[_Rule] = []
    for data in reversed(chain):  # the root first: children override its tables
        file_name = f"{data['name']}.json"
        for event_name, event_type in data.get("event_types", {}).items():
            _check_type(event_type, f"{file_name}: event_types.{event_name}")
        event_types.update(data.get("event_types", {}))
        page_events.update(data.get("page_events", {}))
    for data in chain:  # the child's rules first: they bring its shape to the parent's
        rules.extend(_compile(data, f"{data['name']}.json", decimal_mark))
    top = chain[0]
    return Dialect(name=top["name"], title=top["title"], source=top["source"], decimal_mark=decimal_mark,
                   event_types=event_types, page_events=page_events, rules=tuple(rules), chain=tuple(seen))


_loaded: dict[str, Dialect] = {}


def get(name: str) -> Dialect:
    """The dialect ``name`` (loaded and checked once per process); DialectError when unknown or bad."""
    found = _loaded.get(name)
    if found is None:
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
            raise DialectError(f"unknown dialect {name!r}")
        found = _loaded[name] = load(name)
    return found


def for_raw_record(ingest: dict[str, Any] | None, object_key: str) -> str:
    """Which dialect a raw record was written in.

    The ingest names it in ``_ingest.dialect``. A record the ingest wrote before dialects
    existed carries the contract version alone: the native contract. Anything else is the
    seed system's (its ingest wrote ``_ingest.receivedAt`` in camelCase, one event per
    ``event-<uuid>.json``); other objects written by hand are read as the native contract.
    """
    if ingest:
        named = ingest.get("dialect")
        if named is not None:
            return named if isinstance(named, str) else repr(named)
        if "contract_version" in ingest or "contractVersion" in ingest:
            return NATIVE
        if "receivedAt" in ingest:
            return SEED_LEGACY
    base = object_key.rsplit("/", 1)[-1]
    return SEED_LEGACY if base.startswith("event-") and base.endswith(".json") else NATIVE
