"""ETL Lambda: EventBridge schedule (or a manual payload) -> raw objects -> warehouse.

``handler`` turns the invocation into a ``RunRequest`` and hands it to ``pipeline.run``;
everything testable lives there. Payloads:

- EventBridge scheduled event: ``{"source": "aws.events", "time": "...", ...}``; the window is
  the lookback (``ETL_LOOKBACK_HOURS``, default 48) before ``time``.
- manual: ``{"since": ISO, "until": ISO, "prefix": "events/2024/05/01/", "reprocess": bool,
  "dryRun": bool}``, every field optional.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from clickstream_common.contract import parse_timestamp
from clickstream_common.observability import emf_block, log_line

from .db import WarehouseUnreachable
from .pipeline import RunRequest, RunSummary, run
from .settings import ConfigurationError, Settings
from .source import SourceUnreachable


class BadRequest(ValueError):
    pass


def _bool(payload: dict[str, Any], *names: str) -> bool:
    for name in names:
        if name in payload:
            value = payload[name]
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise BadRequest(f"{name} must be true or false")
    return False


def request_from_event(event: Any, settings: Settings, now: datetime | None = None) -> RunRequest:
    """The run an invocation asks for; BadRequest names the offending field."""
    now = now or datetime.now(UTC)
    if not isinstance(event, dict):
        event = {}
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        when = parse_timestamp(event.get("time")) or now
        return RunRequest.for_time(when, settings.lookback, "schedule")

    def moment(name: str) -> datetime | None:
        if event.get(name) in (None, ""):
            return None
        value = parse_timestamp(event[name])
        if value is None:
            raise BadRequest(f"{name} is not an RFC 3339 timestamp: {event[name]!r}")
        return value

    until = moment("until") or now
    since = moment("since") or until - settings.lookback
    if since >= until:
        raise BadRequest("since must be before until")
    prefix = event.get("prefix")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.startswith(settings.events_prefix)):
        raise BadRequest(f"prefix must be a string under {settings.events_prefix!r}")
    trigger = event.get("trigger") if event.get("trigger") in ("manual", "local") else "manual"
    return RunRequest(trigger=trigger, since=since, until=until, prefix=prefix or None,
                      reprocess=_bool(event, "reprocess"), dry_run=_bool(event, "dryRun", "dry_run"))


def report(summary: RunSummary, request_id: str | None) -> dict[str, Any]:
    """The run summary as one log line that is also an EMF record."""
    metrics = {
        "ObjectsLoaded": (summary.objects_loaded, "Count"),
        "ObjectsSkipped": (summary.objects_skipped, "Count"),
        "EventsLoaded": (summary.events_loaded, "Count"),
        "EventsDuplicate": (summary.events_duplicate, "Count"),
        "EventsRejected": (summary.events_rejected, "Count"),
        "SessionsTouched": (summary.sessions_touched, "Count"),
        "RunDuration": (summary.duration_ms, "Milliseconds"),
    }
    if summary.lag_seconds is not None:
        metrics["EtlLagSeconds"] = (summary.lag_seconds, "Seconds")
    level = "ERROR" if summary.status == "failed" else "INFO"
    return log_line(level, f"etl run {summary.status}", request_id=request_id, summary=summary.as_dict(),
                    **emf_block(metrics, {"Function": "etl"}))


def handler(event: Any, context: Any) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    started = time.monotonic()
    try:
        settings = Settings.from_env()
        request = request_from_event(event, settings)
    except (ConfigurationError, BadRequest) as exc:
        log_line("ERROR", "etl run refused", request_id=request_id, error=str(exc))
        raise
    try:
        summary = run(settings, request)
    except (WarehouseUnreachable, SourceUnreachable) as exc:
        # Raised, not returned: the failed invocation feeds the Lambda error alarm and the
        # async on-failure destination, and nothing was marked processed.
        log_line("ERROR", "etl run failed", request_id=request_id, error=str(exc),
                 duration_ms=int((time.monotonic() - started) * 1000))
        raise
    report(summary, request_id)
    return summary.as_dict()
