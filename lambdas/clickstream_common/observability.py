"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF), standard library only.

One log line can carry both: CloudWatch extracts the metrics named under ``_aws`` and keeps
the rest of the line searchable in Logs Insights.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

METRICS_NAMESPACE = "Clickstream"
# Built once: json.dumps with options builds a new encoder on every call.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def emf_block(
    metrics: dict[str, tuple[float, str]],
    dimensions: dict[str, str],
    namespace: str = METRICS_NAMESPACE,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The EMF fields for ``metrics`` ({name: (value, unit)}) under one dimension set."""
    block: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        }
    }
    block.update(dimensions)
    block.update({name: value for name, (value, _) in metrics.items()})
    return block


def log_line(level: str, message: str, stream: TextIO | None = None, **fields: Any) -> dict[str, Any]:
    """Write one JSON object on one line (Lambda sends stdout to CloudWatch Logs) and return it."""
    record = {"level": level, "message": message, **fields}
    out = stream if stream is not None else sys.stdout
    out.write(_encode(record) + "\n")
    out.flush()
    return record
