"""Check tracker dialects and try them on events: ``scripts/dialect.py`` is the command line.

    scripts/dialect.py list
    scripts/dialect.py check                      # every dialect, as the ingest and the ETL load them
    scripts/dialect.py map sbw_nextjs events.json # each event as the dialect maps and the contract takes it

``map`` reads a JSON event, a JSON array of events or NDJSON (a file, or - for stdin) and prints
one JSON line per event: the mapped event, its event type and page role, or the rejection.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lambdas") not in sys.path:
    sys.path.insert(0, str(REPO / "lambdas"))

from clickstream_common import contract, dialect  # noqa: E402

EXIT_OK, EXIT_INVALID = 0, 1


def read_events(stream: TextIO) -> list[Any]:
    text = stream.read()
    try:
        data = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return data if isinstance(data, list) else [data]


def mapped_line(chosen: dialect.Dialect, event: Any) -> dict[str, Any]:
    try:
        mapped = chosen.validate(event)
    except contract.ContractError as exc:
        return {"rejected": exc.rejection.as_dict()}
    return {"event_type": mapped.event_type, "page_role": mapped.page_role, "event": mapped.event}


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the dialects shipped")
    check = commands.add_parser("check", help="load and check dialects (all when none named)")
    check.add_argument("names", nargs="*")
    try_it = commands.add_parser("map", help="map events with a dialect")
    try_it.add_argument("name")
    try_it.add_argument("file", nargs="?", default="-", help="events as JSON or NDJSON (default: stdin)")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in dialect.names():
            loaded = dialect.get(name)
            print(f"{name}\t{' -> '.join(loaded.chain)}\t{loaded.title}", file=out)
        return EXIT_OK
    if args.command == "check":
        failed = 0
        for name in args.names or dialect.names():
            try:
                loaded = dialect.load(name)
            except dialect.DialectError as exc:
                failed += 1
                print(f"{name}: {exc}", file=out)
                continue
            print(f"{name}: ok ({len(loaded.rules)} rules through {' -> '.join(loaded.chain)})", file=out)
        return EXIT_INVALID if failed else EXIT_OK
    try:
        chosen = dialect.get(args.name)
    except dialect.DialectError as exc:
        parser.error(str(exc))
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    with stream:
        events = read_events(stream)
    rejected = 0
    for event in events:
        line = mapped_line(chosen, event)
        rejected += "rejected" in line
        print(json.dumps(line, ensure_ascii=False, default=str), file=out)
    return EXIT_INVALID if rejected else EXIT_OK
