"""The event contract: spelling normalization, validation and canonical names.

Everything here is driven by ``event.schema.json`` beside this file, the single source of
truth shared by the ingest Lambda, the ETL Lambda and the tests. The validator is compiled
from it lazily (first use), so importing this module stays cheap for Lambda cold starts.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("event.schema.json")

# Stable namespace for ids derived from non-UUID client event ids (uuid5 is deterministic,
# so a client's retry of the same event deduplicates in the warehouse).
EVENT_ID_NAMESPACE = uuid.UUID("6f1c2b8e-3c1a-5d2e-9b7f-8a4e2d1c0b9a")

# Nested objects whose keys are part of the contract and so are folded to snake_case.
# element.dataset is user data (data-* attributes) and keeps its keys as sent.
_NESTED_OBJECTS = ("product", "element")
_KEEP_KEYS_OF = frozenset({"dataset"})
# The seed's legacy objects flattened product fields as context_product_<field>.
_LEGACY_PRODUCT_PREFIX = "context_product_"

# RFC 4122 variant: the two top bits of byte 8 are 10, so its high hex digit is 8, 9, a or b.
_VARIANT = "89ab" * 4
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z").match
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

_REASON_CODES = {
    "required": "missing_field",
    "type": "wrong_type",
    "pattern": "bad_format",
    "format": "bad_format",
    "enum": "not_allowed",
    "maxLength": "too_long",
    "maxItems": "too_many",
    "maxProperties": "too_many",
    "maximum": "out_of_range",
    "minimum": "out_of_range",
    "minLength": "empty",
    "anyOf": "invalid_value",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event was refused: a stable code, the offending field and a readable message."""

    code: str
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "reason": self.message}


class ContractError(ValueError):
    def __init__(self, rejection: Rejection):
        super().__init__(rejection.message)
        self.rejection = rejection


@cache
def schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        return json.load(f)


@cache
def _validator():
    # fastjsonschema turns the schema into plain Python code once; validating an event is
    # then a function call (it is vendored into the Lambda zips, see requirements/). It is
    # the reference: it decides every rejection and its reason.
    import fastjsonschema

    # On a copy: fastjsonschema rewrites the $refs of the schema it is given in place, and
    # schema() is shared (schema_check compiles from it too).
    return fastjsonschema.compile(json.loads(json.dumps(schema())))


@cache
def _fast_check():
    """A yes/no predicate compiled from the same schema (schema_check); False means "ask the reference"."""
    from .schema_check import Unsupported, compile_check

    try:
        return compile_check(schema())
    except Unsupported:
        # The schema grew a keyword the fast check does not mirror: every event goes to the
        # reference validator (slower, never wrong).
        def refuse(event: Any) -> bool:
            return False

        refuse.for_shape = None
        return refuse


def canonical_events() -> dict[str, str]:
    return schema()["x-canonical-events"]


def event_aliases() -> dict[str, str]:
    return schema()["x-event-aliases"]


def funnel_stages() -> list[str]:
    return schema()["x-funnel-stages"]


def checkout_steps() -> list[str]:
    """The checkout's steps in order: a session is at step k when it sent the first k."""
    return schema()["x-checkout-steps"]


@lru_cache(maxsize=4096)  # field names repeat on every event: fold each spelling once
def snake_case(name: str) -> str:
    """``discountPrice`` -> ``discount_price``; snake_case names come back unchanged."""
    if name.islower() or not any(c.isupper() for c in name):
        return name
    return _CAMEL_BOUNDARY.sub("_", name).lower()


@lru_cache(maxsize=4096)
def event_name_key(event_name: str) -> str:
    """An event name as sent, folded to the form aliases and dialects are keyed by
    (``productView`` -> ``product_view``, ``checkout-complete`` -> ``checkout_complete``)."""
    return snake_case(event_name.strip()).replace("-", "_").replace(".", "_").replace(":", "_")


@lru_cache(maxsize=4096)
def canonical_event_name(event_name: str) -> str:
    """Map any accepted spelling of an event name to its canonical name.

    Tracker and seed names go through the alias map; canonical names and custom events are
    returned snake_cased (``productView`` -> ``view_item``, ``newsletter_signup`` unchanged).
    """
    name = event_name_key(event_name)
    return event_aliases().get(name, name)


def _fold(obj: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ContractError(Rejection("bad_format", path or None, "keys must be strings"))
        name = snake_case(key)
        if name not in _KEEP_KEYS_OF:
            if isinstance(value, dict) and (not path and name in _NESTED_OBJECTS):
                value = _fold(value, name)
            elif name == "items" and not path and isinstance(value, list):
                value = [_fold(v, f"items[{i}]") if isinstance(v, dict) else v for i, v in enumerate(value)]
        if name in out and out[name] != value:
            field = f"{path}.{name}" if path else name
            raise ContractError(
                Rejection("conflicting_fields", field, f"{field} is sent in two spellings with different values")
            )
        out[name] = value
    return out


# Fold plans, keyed by an object's key tuple: a client sends the same shape again and again,
# so snake_casing its keys and looking for two spellings of one field is done once per shape.
# A plan is None when the shape needs the full path (_fold): non-string keys, two spellings
# of one field (conflict check) or the seed's context_product_* fields. Bounded, because key
# tuples are client input.
_PLAN_LIMIT = 2048
# A top-level plan is [folded names, names of nested objects to fold, fast check state]; the
# state counts validations of this shape until it is worth a check compiled for the shape
# (schema_check._ShapeCompiler), then holds that check (or None: use the generic one).
_top_plans: dict[tuple, list | None] = {}
_SHAPE_AFTER = 8  # validations of a shape before its own check is worth compiling
_SHAPE_BUDGET = 512  # shapes compiled per process at most: key sets are client input
_shapes_compiled = 0
_nested_plans: dict[tuple, tuple[str, ...] | None] = {}


class _NeedsFullFold(Exception):
    pass


def _names_for(keys: tuple) -> tuple[str, ...] | None:
    if not all(type(k) is str for k in keys):
        return None
    names = tuple(map(snake_case, keys))
    return names if len(set(names)) == len(names) else None


def _top_plan(keys: tuple) -> list | None:
    names = _names_for(keys)
    if names is None or any(n.startswith(_LEGACY_PRODUCT_PREFIX) for n in names):
        plan = None
    else:
        plan = [names, tuple(n for n in names if n in _NESTED_OBJECTS or n == "items"), 0]
    if len(_top_plans) >= _PLAN_LIMIT:
        _top_plans.clear()
    _top_plans[keys] = plan
    return plan


def _fold_nested(obj: dict[str, Any]) -> dict[str, Any]:
    keys = tuple(obj)
    try:
        names = _nested_plans[keys]
    except KeyError:
        names = _names_for(keys)
        if len(_nested_plans) >= _PLAN_LIMIT:
            _nested_plans.clear()
        _nested_plans[keys] = names
    if names is None:
        raise _NeedsFullFold
    return dict(obj) if names == keys else dict(zip(names, obj.values(), strict=True))


def _fold_fast(event: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """_fold(event, "") and its plan, for the shapes a plan covers; raises _NeedsFullFold for the others."""
    keys = tuple(event)
    try:
        plan = _top_plans[keys]
    except KeyError:
        plan = _top_plan(keys)
    if plan is None:
        raise _NeedsFullFold
    names, nested, _ = plan
    out = dict(event) if names == keys else dict(zip(names, event.values(), strict=True))
    for name in nested:
        value = out[name]
        if isinstance(value, dict):
            if name != "items":
                out[name] = _fold_nested(value)
        elif name == "items" and isinstance(value, list):
            out[name] = [_fold_nested(v) if isinstance(v, dict) else v for v in value]
    return out, plan


def normalize_keys(event: dict[str, Any]) -> dict[str, Any]:
    """Fold camelCase (and the seed's ``context_product_*``) spellings to the contract's snake_case.

    Raises ContractError when two spellings of one field disagree. Values are never changed.
    """
    try:
        return _fold_fast(event)[0]
    except _NeedsFullFold:
        return _normalize_full(event)


def _normalize_full(event: dict[str, Any]) -> dict[str, Any]:
    """normalize_keys without the plans: the reference the fast path is tested against."""
    out = _fold(event, "")
    legacy = [k for k in out if k.startswith(_LEGACY_PRODUCT_PREFIX)]
    if legacy:
        product = out.get("product") or {}
        if not isinstance(product, dict):
            # Found by the fold property test: merging into a non-object product raised a
            # TypeError, which the ingest turned into a 500.
            raise ContractError(Rejection("wrong_type", "product",
                                          "product must be an object when context_product_* fields are sent"))
        product = dict(product)
        for key in legacy:
            field = key[len(_LEGACY_PRODUCT_PREFIX) :]
            value = out.pop(key)
            if product.get(field, value) != value:
                raise ContractError(
                    Rejection("conflicting_fields", f"product.{field}", f"product.{field} disagrees with {key}")
                )
            product[field] = value
        out["product"] = product
    return out


def _rejection_from(exc: Any) -> Rejection:
    field = exc.name[5:] if exc.name.startswith("data.") else None
    code = _REASON_CODES.get(exc.rule, "invalid_value")
    message = exc.message
    if exc.rule == "anyOf" and field is None:
        code, message = "missing_identity", "event needs at least one of client_id, session_id or user_id"
    elif exc.rule == "required":
        present = exc.value if isinstance(exc.value, dict) else {}
        missing = next((k for k in exc.rule_definition if k not in present), "")
        field = f"{field}.{missing}" if field else missing
        message = f"{field} is required"
    return Rejection(code, field, message.replace("data.", "", 1) if message.startswith("data.") else message)


def validate(event: Any) -> dict[str, Any]:
    """Normalize spellings and validate one event; return the snake_case event or raise ContractError."""
    if not isinstance(event, dict):
        raise ContractError(Rejection("not_an_object", None, "an event must be a JSON object"))
    try:
        normalized, plan = _fold_fast(event)
    except _NeedsFullFold:
        normalized, plan = _normalize_full(event), None
    try:
        accepted = _accepts(normalized, plan)
    except Exception:
        accepted = False  # whatever went wrong there, the reference below decides
    return normalized if accepted else _validate_reference(normalized)


def _accepts(normalized: dict[str, Any], plan: list | None) -> bool:
    """The fast check's verdict, through the check compiled for this shape once it has one."""
    global _shapes_compiled
    if plan is None:
        return _fast_check()(normalized)
    state = plan[2]
    if state.__class__ is int:
        check = _fast_check()
        if state < _SHAPE_AFTER or check.for_shape is None or _shapes_compiled >= _SHAPE_BUDGET:
            plan[2] = state + 1
            return check(normalized)
        _shapes_compiled += 1
        state = plan[2] = check.for_shape(plan[0])  # normalized's keys are the plan's names
    return state(normalized)


def _validate_reference(normalized: dict[str, Any]) -> dict[str, Any]:
    """fastjsonschema's verdict on a normalized event: the rejection and its reason, or the event."""
    try:
        _validator()(normalized)
    except Exception as exc:  # fastjsonschema.JsonSchemaValueException, imported lazily
        if not hasattr(exc, "rule"):
            raise
        raise ContractError(_rejection_from(exc)) from None
    return normalized


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    if _CANONICAL_UUID(value):  # what the ingest writes: no need to parse it
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def random_uuid() -> str:
    """``str(uuid.uuid4())`` in a third of the time: the same 16 random bytes with the version
    and variant bits set, formatted without building a UUID object."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


def event_id_for(event: dict[str, Any]) -> str:
    """The warehouse event_id of a (normalized) event.

    The client's ``event_id`` when it is a UUID; a stable UUID derived from it and the
    client's identity when it is anything else (so a retried event still deduplicates, and
    two clients' counters do not collide); a fresh random UUID when the client sent none.
    """
    client_event_id = event.get("event_id")
    if client_event_id is None or client_event_id == "":
        return random_uuid()
    if isinstance(client_event_id, str) and len(client_event_id) == 36:
        if _CANONICAL_UUID(client_event_id):  # already str(uuid.UUID(x)): skip parsing it
            return client_event_id
        try:
            return str(uuid.UUID(client_event_id))
        except ValueError:
            pass
    scope = "|".join(str(event.get(k) or "") for k in ("client_id", "session_id", "user_id"))
    return name_uuid(f"{scope}|{client_event_id}")


def name_uuid(name: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))``, for any ``name``.

    uuid5 encodes the name as strict UTF-8, which a lone UTF-16 surrogate (JSON can spell
    "\\ud800") fails: a client id holding one made the ingest answer 500. Surrogates are
    encoded as they are, so such an id still maps to one stable UUID."""
    import hashlib  # here, not at import: it loads OpenSSL, a share of a Lambda's cold start

    digest = hashlib.sha1(EVENT_ID_NAMESPACE.bytes + name.encode("utf-8", "surrogatepass"),
                          usedforsecurity=False).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 string or epoch milliseconds -> aware UTC datetime; None when absent or unreadable."""
    if type(value) is str:
        # The usual case, a UTC timestamp as the tracker writes it, needs nothing but parsing
        # (fromisoformat reads "Z" from Python 3.11); anything else takes the full path below.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            return parsed
    return _parse_timestamp_full(value)


def _parse_timestamp_full(value: Any) -> datetime | None:
    """parse_timestamp without its fast path: the reference the fast path is tested against."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
