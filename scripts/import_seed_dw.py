#!/usr/bin/env python3
"""Import a seed deployment's warehouse table (SBW-Cloudworks ClickStream.Lambda) into this warehouse.

The rows become raw objects under events/import/seed-dw/<table>/ (seed_legacy dialect) and the
ETL loads them in this process; a re-run writes nothing new and loads nothing twice. See
docs/seed-migration.md.

Examples:
  SEED_PG_PASSWORD=... scripts/import_seed_dw.py --env-file ~/.local/state/clickstream/etl.env \\
      --source-host seed-db.example.com --source-user seed --source-database clickstream
  scripts/import_seed_dw.py --env-file etl.env --source-host 10.0.1.20 --source-user seed \\
      --source-database clickstream --source-password-file ~/.seed-pg --source-sslmode require --dry-run
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.seed.import_dw import main

if __name__ == "__main__":
    sys.exit(main())
