#!/usr/bin/env python3
"""Build the Lambda zips reproducibly under build/lambdas/ and print their sha256.

Usage: scripts/build_lambdas.py [ingest] [etl] [--output DIR]
"""

from __future__ import annotations

import argparse
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

from toolkit.provision.lambda_zips import DEFAULT_OUTPUT, FUNCTIONS, BuildError, build_function  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", metavar="function", help=f"any of {', '.join(FUNCTIONS)}; default: all")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.functions) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown function(s): {', '.join(unknown)} (known: {', '.join(FUNCTIONS)})")
    try:
        for name in args.functions or list(FUNCTIONS):
            path, digest = build_function(FUNCTIONS[name], output_dir=args.output)
            print(f"{digest}  {path}")
    except BuildError as exc:
        print(f"build_lambdas: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
