"""Validation and enrichment: what the raw zone stores for each accepted or rejected event."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from clickstream_common import contract
from clickstream_common import dialect as dialects

from .request import HttpRequest
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
    """API Gateway's own receive time when it gave one, else now."""
    if request.time_epoch_ms is not None:
        return datetime.fromtimestamp(request.time_epoch_ms / 1000.0, tz=UTC)
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
        "source_ip": truncate_ip(request.source_ip, settings.ipv4_prefix, settings.ipv6_prefix),
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


def sort_events(events: list[Any], context: dict[str, Any], dialect: dialects.Dialect | None = None) -> Sorted:
    """Validate each event; encode the valid ones with their ``_ingest`` block, keep the invalid ones with their reason.

    Valid records are the event exactly as sent plus ``_ingest`` (so the raw zone stays raw
    and can be reprocessed); invalid records hold the input, its index and the reason.
    """
    out = Sorted()
    valid = out.valid
    line = _LineWriter(context).line
    # The native contract maps nothing: its events take the contract's own (fastest) path.
    validate = (contract.validate if dialect is None or not dialect.rules
                else lambda e: dialect.validate(e).event)
    for index, event in enumerate(events):
        try:
            normalized = validate(event)
        except contract.ContractError as exc:
            reason = exc.rejection.as_dict()
            out.rejected.append({"index": index, **reason})
            out.invalid.append({"index": index, **reason, "event": event, "_ingest": context})
            continue
        valid.append(line(event, normalized))
    return out
