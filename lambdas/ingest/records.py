"""Validation and enrichment: what the raw zone stores for each accepted or rejected event."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickstream_common import contract

from .request import HttpRequest
from .settings import Settings


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


def ingest_context(request: HttpRequest, settings: Settings, when: datetime) -> dict[str, Any]:
    """Fields every event of one request shares; stored under ``_ingest`` like the seed's objects."""
    return {
        "received_at": iso_millis(when),
        "request_id": request.request_id,
        "api_id": request.api_id,
        "stage": request.stage,
        "trace_id": request.trace_id,
        "user_agent": request.user_agent,
        "source_ip": truncate_ip(request.source_ip, settings.ipv4_prefix, settings.ipv6_prefix),
        "contract_version": contract.schema()["x-contract-version"],
    }


@dataclass(slots=True)
class Sorted:
    valid: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def sort_events(events: list[Any], context: dict[str, Any]) -> Sorted:
    """Validate each event; enrich the valid ones and keep the invalid ones with their reason.

    Valid records are the event exactly as sent plus ``_ingest`` (so the raw zone stays raw
    and can be reprocessed); invalid records hold the input, its index and the reason.
    """
    out = Sorted()
    for index, event in enumerate(events):
        try:
            normalized = contract.validate(event)
        except contract.ContractError as exc:
            reason = exc.rejection.as_dict()
            out.rejected.append({"index": index, **reason})
            out.invalid.append({"index": index, **reason, "event": event, "_ingest": context})
            continue
        meta = dict(context)
        meta["event_id"] = contract.event_id_for(normalized)
        if normalized.get("event_id") is not None:
            meta["client_event_id"] = normalized["event_id"]
        record = dict(event)
        record["_ingest"] = meta
        out.valid.append(record)
    return out
