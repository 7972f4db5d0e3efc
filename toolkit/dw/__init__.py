"""Warehouse tooling: migrations, synthetic raw events, demo loads.

The ETL Lambda's code lives in ``lambdas/etl`` (it ships in the Lambda zip); the tools here
reuse it, so ``lambdas/`` is made importable as it is under pytest.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_LAMBDAS = str(REPO / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
