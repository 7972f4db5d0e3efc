#!/usr/bin/env python3
"""Provision the platform on AWS: plan, apply, destroy, outputs (see docs/provisioning.md).

    scripts/provision.py plan --config config/example.yml
    AWS_ENDPOINT_URL=http://127.0.0.1:5000 scripts/provision.py apply --config config/example.yml
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
# Run as `scripts/<name>.py` the shebang finds the system Python, which lacks the pinned
# packages; switch to the project's virtualenv once (scripts/bootstrap.sh creates it).
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parents[1].resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])  # noqa: S606
sys.path.insert(0, str(ROOT))

from toolkit.provision.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
