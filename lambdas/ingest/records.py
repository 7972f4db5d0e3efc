"""Validation and enrichment: what the raw zone stores for each accepted or rejected event."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from clickstream_common import contract
from clickstream_common import dialect as dialects

from .request import HttpRequest, NonFinite
from .settings import Settings
from .storage import encode_record


@lru_cache(maxsize=4096)  # clients send many requests from one address
def truncate_ip(ip: str | None, ipv4_prefix: int, ipv6_prefix: int) -> str | None:
    """Keep only the network part of a client address (privacy), e.g. 203.0.113.7 -> 203.0.113.0."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def received_at(request: HttpRequest) -> datetime:
    """API Gateway's own receive time when it gave one (and it is a date), else now."""
    if request.time_epoch_ms is not None:
        try:
            return datetime.fromtimestamp(request.time_epoch_ms / 1000.0, tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            pass  # not a time: as if absent
    return datetime.now(UTC)


def ingest_context(request: HttpRequest, settings: Settings, when: datetime,
                   dialect_name: str = dialects.NATIVE) -> dict[str, Any]:
    """Fields every event of one request shares; stored under ``_ingest`` like the seed's objects.

    ``dialect`` names the tracker dialect the events were validated in: the ETL maps them
    with the same one (and with a corrected one on reprocess), since the line keeps the event
    as it was sent."""
    return {
        "received_at": iso_millis(when),
        "request_id": request.request_id,
        "api_id": request.api_id,
        "stage": request.stage,
        "trace_id": request.trace_id,
        "user_agent": request.user_agent,
        "source_ip": truncate_ip(request.source_ip if isinstance(request.source_ip, str) else None,
                                 settings.ipv4_prefix, settings.ipv6_prefix),
        "contract_version": contract.schema()["x-contract-version"],
        "dialect": dialect_name,
    }


@dataclass(slots=True)
class Sorted:
    valid: list[str] = field(default_factory=list)  # NDJSON lines, already encoded
    invalid: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def valid_record(event: dict[str, Any], normalized: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """What the raw zone stores for an accepted event: the event exactly as sent plus ``_ingest``."""
    meta = dict(context)
    meta["event_id"] = contract.event_id_for(normalized)
    if normalized.get("event_id") is not None:
        meta["client_event_id"] = normalized["event_id"]
    record = dict(event)
    record["_ingest"] = meta
    return record


class _LineWriter:
    """Encodes ``valid_record`` lines without building the record.

    The ``_ingest`` block is the same for every event of a request except its ids, so it is
    encoded once and spliced after the event's own JSON: one encoder call per event on the
    event as sent, and no copies of the event or the context. The bytes are those of
    ``encode_record(valid_record(...))`` (tests/ingest/test_records.py holds it to that).
    """

    __slots__ = ("_context", "_context_head")

    def __init__(self, context: dict[str, Any]):
        self._context = context
        # ',"_ingest":{"received_at":...,"contract_version":1,"event_id":"': brace left open.
        self._context_head = ',"_ingest":' + encode_record(context)[:-1] + ',"event_id":"'

    def line(self, event: dict[str, Any], normalized: dict[str, Any]) -> str:
        if "_ingest" in event or not self._context:
            # A client-sent _ingest is replaced in place, not appended: build the record.
            return encode_record(valid_record(event, normalized, self._context))
        client_event_id = normalized.get("event_id")
        # event_id_for gives a UUID string, which JSON needs no escaping for.
        tail = contract.event_id_for(normalized) + '"'
        if client_event_id is not None:
            tail += ',"client_event_id":' + encode_record(client_event_id)
        return encode_record(event)[:-1] + self._context_head + tail + "}}"


def _spell(value: Any) -> str:
    if isinstance(value, NonFinite):
        return value.text
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def non_finite_field(event: Any) -> tuple[str | None, str] | None:
    """(where, spelling) of the first number in ``event`` that standard JSON cannot carry, else None.

    Iterative: an event may be nested as deep as the JSON parser allowed.
    """
    stack: list[tuple[Any, str | None]] = [(event, None)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return where, _spell(value)
        elif isinstance(value, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((v, f"{where or ''}[{i}]") for i, v in reversed(list(enumerate(value))))
    return None


def spelled_out(value: Any) -> Any:
    """``value`` with every non-finite number replaced by its spelling as a string (standard JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _spell(value)
    if isinstance(value, dict | list):
        root: Any = {} if isinstance(value, dict) else []
        stack = [(value, root)]
        while stack:  # iterative, like non_finite_field
            source, target = stack.pop()
            items = source.items() if isinstance(source, dict) else enumerate(source)
            for key, item in items:
                if isinstance(item, dict | list):
                    copy: Any = {} if isinstance(item, dict) else []
                    stack.append((item, copy))
                    item = copy
                elif isinstance(item, float) and not math.isfinite(item):
                    item = _spell(item)
                if isinstance(target, dict):
                    target[key] = item
                else:
                    target.append(item)
        return root
    return value


def non_finite_rejection(where: str | None, spelling: str) -> dict[str, Any]:
    return {"code": "non_finite_number", "field": where,
            "reason": f"{where or 'the event'} is {spelling}: NaN, Infinity and numbers beyond a double's range "
                      "are not valid JSON (RFC 8259); stored here with the number spelled as a string"}


def sort_events(events: list[Any], context: dict[str, Any], dialect: dialects.Dialect | None = None) -> Sorted:
    """Validate each event; encode the valid ones with their ``_ingest`` block, keep the invalid ones with their reason.

    Valid records are the event exactly as sent plus ``_ingest`` (so the raw zone stays raw
    and can be reprocessed); invalid records hold the input, its index and the reason. An
    event holding NaN or Infinity is invalid: the raw zone holds standard JSON only.
    """
    out = Sorted()
    valid = out.valid
    line = _LineWriter(context).line
    # The native contract maps nothing: its events take the contract's own (fastest) path.
    validate = (contract.validate if dialect is None or not dialect.rules
                else lambda e: dialect.validate(e).event)
    # parse_events says whether the body held any such number at all; a plain list is searched.
    search = getattr(events, "non_finite", True)
    for index, event in enumerate(events):
        found = non_finite_field(event) if search else None
        if found is not None:
            reason = non_finite_rejection(*found)
            out.rejected.append({"index": index, **reason})
            out.invalid.append({"index": index, **reason, "event": spelled_out(event), "_ingest": context})
            continue
        try:
            normalized = validate(event)
        except contract.ContractError as exc:
            reason = exc.rejection.as_dict()
            out.rejected.append({"index": index, **reason})
            out.invalid.append({"index": index, **reason, "event": event, "_ingest": context})
            continue
        valid.append(line(event, normalized))
    return out
