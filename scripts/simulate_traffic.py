#!/usr/bin/env python3
"""Simulate shoppers of the demo storefront against any ingest URL, or straight into the raw bucket.

    scripts/simulate_traffic.py --url http://127.0.0.1:8080/clickstream --days 3 --seed 7
    scripts/simulate_traffic.py --url http://127.0.0.1:8080/clickstream --duration 300 --rate 50
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 scripts/simulate_traffic.py --s3-bucket clickstream-raw --days 30

Deterministic from --seed (and --end); see docs/simulator.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lambdas"), str(REPO)]

from toolkit.simulate.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
