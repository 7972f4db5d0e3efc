"""Manual ETL runs: in-process against the configured S3 and warehouse (``--local``), or by
invoking the deployed Lambda with boto3. ``scripts/invoke_etl.py`` is the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lambdas") not in sys.path:
    sys.path.insert(0, str(REPO / "lambdas"))

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines (the local platform writes one); comments and blank lines ignored."""
    values = {}
    for line in Path(path).expanduser().read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def environment(env_file: str | None) -> dict[str, str]:
    """This process's environment with the settings of ``env_file`` (if any) over it; OSError
    when the file cannot be read."""
    env = dict(os.environ)
    if env_file:
        env.update(read_env_file(env_file))
    return env


def payload_from_args(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {"trigger": "local" if args.local else "manual"}
    for name in ("since", "until", "prefix"):
        if getattr(args, name):
            payload[name] = getattr(args, name)
    if args.reprocess:
        payload["reprocess"] = True
    if args.dry_run:
        payload["dryRun"] = True
    return payload


def run_local(payload: dict[str, Any], env: Mapping[str, str], show_progress: bool) -> tuple[int, dict[str, Any]]:
    from etl.db import WarehouseUnreachable
    from etl.handler import BadRequest, request_from_event
    from etl.pipeline import run
    from etl.settings import ConfigurationError, Settings
    from etl.source import SourceUnreachable

    try:
        settings = Settings.from_env(env)
        request = request_from_event(payload, settings)
    except (ConfigurationError, BadRequest) as exc:
        return EXIT_CONFIG, {"status": "refused", "error": str(exc)}
    try:
        if show_progress:
            summary = _with_progress(lambda progress: run(settings, request, progress=progress))
        else:
            summary = run(settings, request)
    except WarehouseUnreachable as exc:
        return EXIT_UNREACHABLE, {"status": "failed", "error": f"warehouse unreachable: {exc}"}
    except SourceUnreachable as exc:
        return EXIT_UNREACHABLE, {"status": "failed", "error": f"raw bucket unreachable: {exc}"}
    return (EXIT_OK if summary.status != "failed" else EXIT_FAILED), summary.as_dict()


def _with_progress(body: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("ETL"), BarColumn(), MofNCompleteColumn(),
               TextColumn("objects · {task.fields[events]:,} events"), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("load", total=None, events=0)

        def progress(done: int, total: int, events: int) -> None:
            bar.update(task, completed=done, total=total, events=events)

        return body(progress)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def invoke_remote(payload: dict[str, Any], function: str, asynchronous: bool, lambda_client: Any = None
                  ) -> tuple[int, dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    if lambda_client is None:
        import boto3
        from botocore.config import Config

        # A run may take minutes: wait for it rather than time out and retry (which would queue a second run).
        lambda_client = boto3.client("lambda", config=Config(read_timeout=900, retries={"max_attempts": 1}))
    try:
        response = lambda_client.invoke(FunctionName=function, InvocationType="Event" if asynchronous else
                                        "RequestResponse", Payload=json.dumps(payload).encode())
    except (BotoCoreError, ClientError) as exc:
        return EXIT_UNREACHABLE, {"status": "failed", "error": f"cannot invoke {function}: {exc}"}
    if asynchronous:
        return EXIT_OK, {"status": "queued", "function": function, "http_status": response.get("StatusCode")}
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        return EXIT_FAILED, {"status": "failed", "function_error": response["FunctionError"], "error": body}
    return (EXIT_OK if isinstance(body, dict) and body.get("status") != "failed" else EXIT_FAILED), body


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="invoke_etl.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 done (or skipped because another run holds the lock), 1 run failed, "
               "2 bad configuration or arguments, 3 warehouse/S3/Lambda unreachable.")
    p.add_argument("--local", action="store_true",
                   help="run in this process against RAW_BUCKET_NAME (AWS_ENDPOINT_URL honoured) and DW_PG_*")
    p.add_argument("--env-file", help="read the DW_PG_* / RAW_BUCKET_NAME / AWS_* settings from KEY=VALUE lines")
    p.add_argument("--since", help="window start (RFC 3339); default: the lookback before --until")
    p.add_argument("--until", help="window end (RFC 3339); default: now")
    p.add_argument("--prefix", help="list only this prefix, e.g. events/2026/11/25/")
    p.add_argument("--reprocess", action="store_true", help="read objects again even if already in the ledger")
    p.add_argument("--dry-run", action="store_true", help="list what would be loaded, load nothing")
    p.add_argument("--function", default=os.environ.get("ETL_FUNCTION_NAME"),
                   help="deployed function name or ARN (default: $ETL_FUNCTION_NAME)")
    p.add_argument("--async", dest="asynchronous", action="store_true", help="fire and forget (remote only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (local runs)")
    return p


def main(argv: list[str] | None = None, lambda_client: Any = None) -> int:
    args = parser().parse_args(argv)
    try:
        env = environment(args.env_file)
    except OSError as exc:
        print(json.dumps({"status": "refused", "error": f"--env-file: {exc}"}), file=sys.stderr)
        return EXIT_CONFIG
    payload = payload_from_args(args)
    if args.local:
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})  # boto3 reads os.environ
        show = not args.no_progress and sys.stderr.isatty()
        code, result = run_local(payload, env, show)
    else:
        if not args.function:
            print(json.dumps({"status": "refused", "error": "--function (or ETL_FUNCTION_NAME) is required "
                              "without --local"}), file=sys.stderr)
            return EXIT_CONFIG
        code, result = invoke_remote(payload, args.function, args.asynchronous, lambda_client)
    print(json.dumps(result, indent=2, default=str), file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code
