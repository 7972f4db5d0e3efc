#!/usr/bin/env python3
"""Start, stop and inspect the platform's local long-running processes (no systemd needed).

    scripts/localctl.py status                 # every defined service
    scripts/localctl.py start shiny            # idempotent: prints {"changed": false, ...} if running
    scripts/localctl.py stop --all
    scripts/localctl.py logs etl-timer -n 100
    scripts/localctl.py define spec.json       # what the Ansible roles do
    scripts/localctl.py every --interval 1800 -- .venv/bin/python scripts/invoke_etl.py --local

State (specs, pidfiles, logs) lives under $CLICKSTREAM_STATE_DIR, default ~/.local/state/clickstream.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.local.services import ServiceError, Services, Spec, run_every


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", help="default: $CLICKSTREAM_STATE_DIR or ~/.local/state/clickstream")
    sub = parser.add_subparsers(dest="cmd", required=True)
    define = sub.add_parser("define", help="write a service spec (JSON file, '-' for stdin)")
    define.add_argument("spec")
    for name in ("start", "stop", "restart"):
        cmd = sub.add_parser(name, help=f"{name} services (JSON result per service on stdout)")
        cmd.add_argument("names", nargs="*")
        cmd.add_argument("--all", action="store_true", help="every defined service")
    status = sub.add_parser("status", help="state of services; exit 3 when one is not running")
    status.add_argument("names", nargs="*")
    status.add_argument("--json", action="store_true")
    logs = sub.add_parser("logs", help="the end of a service's log")
    logs.add_argument("name")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")
    every = sub.add_parser("every", help="run a command every N seconds (the local timer)")
    every.add_argument("--interval", type=float, required=True, help="seconds between run starts")
    every.add_argument("command", nargs=argparse.REMAINDER, help="-- command and arguments")
    args = parser.parse_args(argv)

    services = Services(args.state_dir)
    try:
        if args.cmd == "define":
            text = sys.stdin.read() if args.spec == "-" else Path(args.spec).read_text()
            spec = Spec.from_dict(json.loads(text))
            print(json.dumps({"name": spec.name, "changed": services.define(spec)}))
            return 0
        if args.cmd in ("start", "stop", "restart"):
            names = services.names() if args.all else args.names
            if not names:
                parser.error(f"{args.cmd}: name services or use --all")
            for name in names:
                if args.cmd == "restart":
                    services.stop(name)
                result = services.start(name) if args.cmd != "stop" else services.stop(name)
                print(json.dumps(result), flush=True)
            return 0
        if args.cmd == "status":
            rows = [services.status(n) for n in (args.names or services.names())]
            if args.json:
                print(json.dumps([r.as_dict() for r in rows], indent=2))
            else:
                for r in rows:
                    stale = " (spec changed: restart to apply)" if r.spec_current is False else ""
                    print(f"{r.name:<14} {r.state:<8} pid={r.pid or '-':<8} since={r.started_at or '-'}"
                          f"  log={r.log}{stale}")
            return 0 if all(r.state == "running" for r in rows) else 3
        if args.cmd == "logs":
            services.load(args.name)
            print(services.tail(args.name, args.lines), end="")
            if args.follow:
                return _follow(services.log_path(args.name))
            return 0
        if args.cmd == "every":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("every: give the command after --")
            return run_every(args.interval, command)
    except ServiceError as exc:
        print(f"localctl: {exc}", file=sys.stderr)
        return 1
    return 2


def _follow(path: Path) -> int:
    with open(path, errors="replace") as handle:
        handle.seek(0, 2)
        try:
            while True:
                line = handle.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
