#!/usr/bin/env python3
"""Run the ETL by hand: `--local` in this process, otherwise by invoking the deployed Lambda.

Examples:
  scripts/invoke_etl.py --local --env-file ~/.local/state/clickstream/etl.env
  scripts/invoke_etl.py --local --since 2026-11-01T00:00:00Z --until 2026-11-08T00:00:00Z   # backfill
  scripts/invoke_etl.py --function clickstream-dev-etl --dry-run
  scripts/invoke_etl.py --function clickstream-dev-etl --async
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.etl.invoke import main

if __name__ == "__main__":
    sys.exit(main())
