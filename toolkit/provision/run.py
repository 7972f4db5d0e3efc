"""plan / apply / destroy / outputs: the ordered steps and what each command returns.

`plan` runs the same steps as `apply` with `plan_only` set, so the two can never disagree
about what exists; `outputs` is a plan whose discovered ids are reported instead of its changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.provision import compute, flow_logs, iam, monitoring, network, serverless, storage, teardown
from toolkit.provision.aws import Clients, Retrier
from toolkit.provision.config import Config
from toolkit.provision.engine import Change, Ctx, Reporter, SilentReporter, Step

ROOT = Path(__file__).resolve().parents[2]

APPLY_STEPS: list[tuple[str, Step]] = [
    ("VPC", network.vpc),
    ("internet gateway", network.internet_gateway),
    ("subnets", network.subnets),
    ("route tables", network.route_tables),
    ("security groups", network.security_groups),
    ("S3 gateway endpoint", network.s3_gateway_endpoint),
    ("SSM interface endpoints", network.ssm_interface_endpoints),
    ("raw bucket", storage.raw_bucket),
    ("SSM transfer bucket", storage.ssm_transfer_bucket),
    ("warehouse password", storage.dw_password),
    ("IAM roles", iam.roles),
    ("instance profile", iam.instance_profile),
    ("AMI", compute.resolve_ami),
    ("EC2 hosts", compute.hosts),
    ("log groups", serverless.log_groups),
    ("VPC flow logs", flow_logs.flow_logs),
    ("ETL failure queue", serverless.failures_queue),
    ("Lambda functions", serverless.functions),
    ("HTTP API", serverless.http_api),
    ("ETL schedule", serverless.etl_schedule),
    ("alarm topic key", monitoring.alarm_topic_key),
    ("alarm topic", monitoring.alarm_topic),
    ("alarm subscriptions", monitoring.subscriptions),
    ("alarms", serverless.alarms),
    ("dashboard", monitoring.dashboard),
]


@dataclass
class Result:
    changes: list[Change]
    unchanged: int
    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    planned: bool = False

    def summary(self) -> str:
        counts = {action: sum(c.action == action for c in self.changes) for action in ("create", "update", "delete")}
        if not self.changes:
            return f"no changes ({self.unchanged} resources up to date)"
        if self.planned:
            done = f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
        else:
            done = f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"
        return f"{done}; {self.unchanged} up to date"


class _NoteCollector:
    """Passes everything on to the caller's reporter and keeps the notes for the result."""

    def __init__(self, inner: Reporter):
        self.inner = inner
        self.notes: list[str] = []

    def step(self, label: str, index: int, total: int) -> None:
        self.inner.step(label, index, total)

    def change(self, change: Change) -> None:
        self.inner.change(change)

    def note(self, message: str) -> None:
        self.notes.append(message)
        self.inner.note(message)


def load_artifacts(directory: str | Path, names: tuple[str, ...] = ("ingest", "etl")) -> dict[str, bytes]:
    """The built zips in `directory` (relative paths are taken from the repository root)."""
    directory = Path(directory)
    if not directory.is_absolute():
        directory = ROOT / directory
    return {name: (directory / f"{name}.zip").read_bytes() for name in names if (directory / f"{name}.zip").exists()}


def _run(cfg: Config, clients: Clients, steps: list[tuple[str, Step]], *, plan_only: bool,
         artifacts: dict[str, bytes] | None, reporter: Reporter | None, retrier: Retrier | None) -> Result:
    collector = _NoteCollector(reporter or SilentReporter())
    ctx = Ctx(cfg=cfg, clients=clients, plan_only=plan_only, retrier=retrier or Retrier(), reporter=collector,
              artifacts=dict(artifacts or {}))
    for warning in cfg.warnings:
        collector.note(f"warning: {warning}")
    for index, (label, step) in enumerate(steps, 1):
        collector.step(label, index, len(steps))
        step(ctx)
    return Result(changes=ctx.changes, unchanged=ctx.unchanged, notes=collector.notes, state=ctx.state,
                  planned=plan_only)


def plan(cfg: Config, clients: Clients, artifacts: dict[str, bytes] | None = None, reporter: Reporter | None = None,
         retrier: Retrier | None = None) -> Result:
    return _run(cfg, clients, APPLY_STEPS, plan_only=True, artifacts=artifacts, reporter=reporter, retrier=retrier)


def apply(cfg: Config, clients: Clients, artifacts: dict[str, bytes], reporter: Reporter | None = None,
          retrier: Retrier | None = None) -> Result:
    missing = sorted({"ingest", "etl"} - set(artifacts))
    if missing:
        raise RuntimeError(f"no zip for {', '.join(missing)}: run scripts/build_lambdas.py")
    return _run(cfg, clients, APPLY_STEPS, plan_only=False, artifacts=artifacts, reporter=reporter, retrier=retrier)


def destroy(cfg: Config, clients: Clients, *, delete_data: bool = False, plan_only: bool = False,
            reporter: Reporter | None = None, retrier: Retrier | None = None) -> Result:
    return _run(cfg, clients, teardown.destroy_steps(delete_data), plan_only=plan_only, artifacts=None,
                reporter=reporter, retrier=retrier)


def outputs(cfg: Config, clients: Clients, retrier: Retrier | None = None) -> dict[str, Any]:
    """What the other tools need (ids, addresses, URLs); never the password itself."""
    result = plan(cfg, clients, retrier=retrier)
    s = result.state
    known = Ctx.known

    def value(key: str) -> str | None:
        return s[key] if known(s.get(key)) else None

    api = value("api_endpoint")
    oltp_host = value("oltp_public_dns") or value("oltp_public_ip")
    dw_instance = value("dw_instance_id")
    return {
        "project": cfg.project,
        "environment": cfg.environment,
        "region": cfg.region,
        "complete": not result.changes,
        "pending_changes": [c.line() for c in result.changes],
        "vpc_id": value("vpc_id"),
        "subnets": {"public": value("public_subnet_id"), "private_analytics": value("private_subnet_1_id"),
                    "private_etl": value("private_subnet_2_id")},
        "security_groups": {"oltp": value("sg_oltp_id"), "dw": value("sg_dw_id"), "shiny": value("sg_shiny_id"),
                            "etl_lambda": value("sg_etl_id"), "endpoints": value("sg_endpoints_id")},
        "s3_gateway_endpoint_id": value("s3_endpoint_id"),
        "ssm_interface_endpoint_ids": {short: value(f"{short}_endpoint_id")
                                       for short in network.SSM_ENDPOINT_SERVICES if value(f"{short}_endpoint_id")},
        "raw_bucket": s.get("bucket"),
        # ansible_aws_ssm_bucket_name of the AWS inventory (inventory/group_vars/all.yml).
        "ssm_transfer_bucket": s.get("ssm_transfer_bucket"),
        "api_id": value("api_id"),
        "api_url": api,
        "ingest_url": f"{api}/clickstream" if api else None,
        "functions": {"ingest": value("ingest_function_arn"), "etl": value("etl_function_arn")},
        "etl_schedule_rule_arn": value("etl_rule_arn"),
        "etl_failures_queue_url": value("etl_failures_queue_url"),
        "dw_password_parameter": s.get("dw_password_parameter"),
        # Where the alarms notify (subscriptions: observability.alarm_email / alarm_https_endpoints).
        "alarm_topic_arn": value("alarm_topic_arn"),
        "dashboard_url": (monitoring.dashboard_url(cfg.region, s["dashboard"]) if s.get("dashboard") else None),
        "flow_log_id": value("flow_log_id"),
        "hosts": {
            "oltp": {"instance_id": value("oltp_instance_id"), "public_ip": value("oltp_public_ip"),
                     "public_dns": value("oltp_public_dns"), "private_ip": value("oltp_private_ip")},
            "dw": {"instance_id": dw_instance, "private_ip": value("dw_private_ip")},
        },
        # The storefront's DATABASE_URL; user and password come from the OLTP role's generated
        # secret, the CA certificate from the dw_ca_parameter (runbooks/tls-ca.md).
        "storefront_database_url_template": (
            f"postgresql://<user>:<password>@{oltp_host}:5432/{cfg.hosts.oltp_database}"
            "?sslmode=verify-full&sslrootcert=<path of ca.crt>" if oltp_host else None),
        "dw_ca_parameter": s.get("dw_ca_parameter"),
        "shiny_port_forward_command": (
            f"aws ssm start-session --region {cfg.region} --target {dw_instance} "
            "--document-name AWS-StartPortForwardingSession "
            "--parameters portNumber=3838,localPortNumber=3838" if dw_instance else None),
    }
