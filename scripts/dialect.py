#!/usr/bin/env python3
"""Check tracker dialects and try one on events (see docs/dialects.md).

    scripts/dialect.py list
    scripts/dialect.py check
    scripts/dialect.py map sbw_nextjs events.ndjson
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.dialects.cli import main

if __name__ == "__main__":
    sys.exit(main())
