"""The command line behind scripts/provision.py: argument parsing and the progress display."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from toolkit.provision import lambda_zips, run
from toolkit.provision.aws import Clients
from toolkit.provision.config import ConfigError, load
from toolkit.provision.engine import Change

STYLES = {"create": "green", "update": "yellow", "delete": "red"}


class RichReporter:
    """One progress bar over the steps; each change and note is printed above it as it happens.

    Without a terminal (CI, a pipe) rich prints the lines plainly and draws no bar.
    """

    def __init__(self, console: Console, title: str):
        self.console = console
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.task = self.progress.add_task(title, total=None)
        self.title = title

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def step(self, label: str, index: int, total: int) -> None:
        self.progress.update(self.task, description=f"{self.title}: {label}", completed=index - 1, total=total)

    def change(self, change: Change) -> None:
        self.progress.console.print(change.line(), style=STYLES.get(change.action), markup=False, highlight=False)

    def note(self, message: str) -> None:
        self.progress.console.print(f"note: {message}", style="cyan", markup=False, highlight=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provision.py",
        description="Provision the clickstream platform on AWS (or on the endpoint in AWS_ENDPOINT_URL).")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("plan", "show what apply would change; changes nothing"),
                       ("apply", "create or update everything; safe to repeat"),
                       ("destroy", "delete everything the configuration owns, in dependency order"),
                       ("outputs", "print ids, addresses and URLs as JSON")):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--config", required=True, type=Path, help="the environment's YAML file")
        if name in {"plan", "apply"}:
            command.add_argument("--artifacts", type=Path, default=None,
                                 help="use the zips in this directory instead of building them from lambdas/")
        if name == "destroy":
            command.add_argument("--delete-data", action="store_true",
                                 help="also empty and delete the raw bucket (kept by default)")
            command.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            command.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    return parser


def _artifacts(directory: Path | None, configured: str) -> dict[str, bytes]:
    if directory is not None:
        found = run.load_artifacts(directory)
        if not found:
            raise RuntimeError(f"no ingest.zip or etl.zip in {directory}")
        return found
    output = Path(configured) if Path(configured).is_absolute() else run.ROOT / configured
    built = {}
    for name, spec in lambda_zips.FUNCTIONS.items():
        path, _ = lambda_zips.build_function(spec, output_dir=output)
        built[name] = path.read_bytes()
    return built


def _confirm(console: Console, environment: str) -> bool:
    if not sys.stdin.isatty():
        console.print("destroy: refusing without --yes when not run from a terminal", style="red")
        return False
    answer = console.input(f"Type the environment name ([bold]{environment}[/]) to destroy it: ")
    return answer.strip() == environment


def main(argv: list[str] | None = None, clients: Clients | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        console.print(f"configuration error in {args.config}: {exc}", style="red", markup=False)
        return 2
    clients = clients or Clients(cfg.region)
    target = clients.endpoint_url or f"AWS {cfg.region}"
    try:
        if args.command == "outputs":
            print(json.dumps(run.outputs(cfg, clients), indent=2))
            return 0
        if args.command == "destroy":
            plan_only = args.dry_run
            if not plan_only and not args.yes and not _confirm(console, cfg.environment):
                return 1
            console.print(f"destroy {cfg.prefix} at {target}", style="bold")
            with RichReporter(console, "destroy") as reporter:
                result = run.destroy(cfg, clients, delete_data=args.delete_data, plan_only=plan_only,
                                     reporter=reporter)
        else:
            try:
                artifacts = _artifacts(args.artifacts, cfg.artifacts_dir)
            except lambda_zips.BuildError as exc:
                if args.command != "plan":
                    raise
                # A plan is still useful without the zips; it just cannot tell whether code changed.
                console.print(f"note: cannot build the Lambda zips ({exc}); code changes are not planned",
                              style="cyan", markup=False)
                artifacts = {}
            console.print(f"{args.command} {cfg.prefix} at {target}", style="bold")
            with RichReporter(console, args.command) as reporter:
                if args.command == "plan":
                    result = run.plan(cfg, clients, artifacts, reporter=reporter)
                else:
                    result = run.apply(cfg, clients, artifacts, reporter=reporter)
    except (ClientError, BotoCoreError, WaiterError, RuntimeError, TimeoutError, OSError,
            lambda_zips.BuildError) as exc:
        console.print(f"{args.command} failed: {exc}", style="red", markup=False)
        return 1
    # Progress goes to stderr; the outcome is the one line on stdout, for scripts and Ansible's changed_when.
    print(f"{args.command}: {result.summary()}")
    return 0
