#!/usr/bin/env python3
"""Build the Lambda zips reproducibly under build/lambdas/ and print their sha256.

Usage: scripts/build_lambdas.py [ingest] [etl] [--output DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.provision.lambda_zips import DEFAULT_OUTPUT, FUNCTIONS, BuildError, build_function


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
