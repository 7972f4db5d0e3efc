"""The shared state of one plan/apply/destroy run: config, clients, changes, discovered ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from toolkit.provision.aws import Clients, Retrier
from toolkit.provision.config import Config

PENDING_PREFIX = "<new "

T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    kind: str  # e.g. "ec2 vpc", "lambda function"
    name: str
    detail: str = ""

    def line(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}.get(self.action, " ")
        return f"{sign} {self.kind} {self.name}" + (f" ({self.detail})" if self.detail else "")


class Reporter(Protocol):
    def step(self, label: str, index: int, total: int) -> None: ...
    def change(self, change: Change) -> None: ...
    def note(self, message: str) -> None: ...


class SilentReporter:
    """Keeps what it is told, for tests and for callers that only want the result."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.steps: list[str] = []

    def step(self, label: str, index: int, total: int) -> None:
        self.steps.append(label)

    def change(self, change: Change) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


class Names:
    """Every resource name, derived from project and environment (one source of truth)."""

    def __init__(self, cfg: Config, account_id: str):
        p = cfg.prefix
        self.prefix = p
        self.vpc = f"{p}-vpc"
        self.igw = f"{p}-igw"
        self.public_subnet = f"{p}-public"
        self.private_subnet_1 = f"{p}-private-analytics"
        self.private_subnet_2 = f"{p}-private-etl"
        self.public_rt = f"{p}-public-rt"
        self.private_rt_1 = f"{p}-private-analytics-rt"
        self.private_rt_2 = f"{p}-private-etl-rt"
        self.s3_endpoint = f"{p}-s3-gateway"
        self.sg_oltp = f"{p}-sg-oltp"
        self.sg_dw = f"{p}-sg-dw"
        self.sg_shiny = f"{p}-sg-shiny"
        self.sg_etl = f"{p}-sg-etl-lambda"
        self.sg_endpoints = f"{p}-sg-endpoints"
        self.bucket = self._bucket_name(cfg.storage.raw_bucket_name, f"{p}-raw-{account_id}-{cfg.region}",
                                        "raw_bucket_name")
        # Same length as the raw bucket's derived name, so one fits when the other does.
        self.ssm_transfer_bucket = self._bucket_name(cfg.storage.ssm_transfer_bucket_name,
                                                     f"{p}-ssm-{account_id}-{cfg.region}", "ssm_transfer_bucket_name")
        self.dw_password_parameter = f"/{cfg.project}/{cfg.environment}/dw/etl_password"
        # The warehouse's CA certificate (a String), published by the Ansible roles.
        self.dw_ca_parameter = f"/{cfg.project}/{cfg.environment}/tls/ca_cert"
        self.ingest_role = f"{p}-ingest-lambda"
        self.etl_role = f"{p}-etl-lambda"
        self.ec2_role = f"{p}-ec2-host"
        self.instance_profile = f"{p}-ec2-host"
        self.oltp_host = f"{p}-oltp"
        self.dw_host = f"{p}-dw"
        self.ingest_function = f"{p}-ingest"
        self.etl_function = f"{p}-etl"
        self.etl_failures_queue = f"{p}-etl-failures"
        self.api = f"{p}-ingest-api"
        self.api_log_group = f"/aws/apigateway/{self.api}"
        self.etl_rule = f"{p}-etl-schedule"
        self.alarm_etl_errors = f"{p}-etl-errors"
        self.alarm_etl_lag = f"{p}-etl-lag"
        self.alarm_etl_failures = f"{p}-etl-failed-invocations"
        self.alarm_ingest_5xx = f"{p}-ingest-5xx"
        # Every alarm is named <prefix>-*: the topic and key policies let CloudWatch publish for those only.
        self.alarm_name_pattern = f"{p}-*"
        self.alarm_topic = f"{p}-alarms"
        self.alarm_topic_key_alias = f"alias/{p}-alarms"
        self.dashboard = f"{p}-pipeline"
        self.flow_log = f"{p}-vpc-flow-log"
        self.flow_log_group = f"/{cfg.project}/{cfg.environment}/vpc-flow-logs"
        self.flow_logs_role = f"{p}-vpc-flow-logs"

    @staticmethod
    def _bucket_name(configured: str, derived: str, field: str) -> str:
        if configured:
            return configured
        if len(derived) > 63:
            raise RuntimeError(f"storage.{field}: the derived bucket name {derived} is longer than "
                               f"S3's 63 characters; set storage.{field}")
        return derived

    @staticmethod
    def function_log_group(function: str) -> str:
        return f"/aws/lambda/{function}"


@dataclass
class Ctx:
    cfg: Config
    clients: Clients
    plan_only: bool = False
    retrier: Retrier = field(default_factory=Retrier)
    reporter: Reporter = field(default_factory=SilentReporter)
    artifacts: dict[str, bytes] = field(default_factory=dict)  # function name → zip bytes
    state: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    _names: Names | None = None

    @property
    def names(self) -> Names:
        if self._names is None:
            self._names = Names(self.cfg, self.clients.account_id)
        return self._names

    @property
    def region(self) -> str:
        return self.cfg.region

    @property
    def account(self) -> str:
        return self.clients.account_id

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.clients.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def call(self, service: str, operation: str, /, *, iam_propagation: bool = False, **kwargs: Any) -> Any:
        return self.retrier.call(getattr(self.clients(service), operation), iam_propagation=iam_propagation,
                                 **kwargs)

    def record(self, action: str, kind: str, name: str, detail: str = "") -> None:
        change = Change(action, kind, name, detail)
        self.changes.append(change)
        self.reporter.change(change)

    def reconcile(self, action: str, kind: str, name: str, detail: str = "",
                  apply: Callable[[], T] | None = None) -> T | None:
        """Record one change and, unless this is a plan, make it: `apply`'s result, or None in a plan."""
        self.record(action, kind, name, detail)
        if self.plan_only or apply is None:
            return None
        return apply()

    def keep(self) -> None:
        self.unchanged += 1

    @staticmethod
    def pending(kind: str) -> str:
        return f"{PENDING_PREFIX}{kind}>"

    @staticmethod
    def known(value: Any) -> bool:
        return bool(value) and not (isinstance(value, str) and value.startswith(PENDING_PREFIX))

    @staticmethod
    def client_token(*parts: str) -> str:
        """An idempotency token for EC2: the same intent retried gets the same token (at most 64 chars)."""
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def ec2_tags(self, resource_type: str, name: str, **extra: str) -> list[dict[str, Any]]:
        tags = self.cfg.tags(Name=name, **extra)
        return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]

    def tag_list(self, **extra: str) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in self.cfg.tags(**extra).items()]

    def ownership_filters(self) -> list[dict[str, Any]]:
        return [
            {"Name": "tag:Project", "Values": [self.cfg.project]},
            {"Name": "tag:Environment", "Values": [self.cfg.environment]},
        ]


Step = Callable[[Ctx], None]


def canonical_json(document: Any) -> str:
    """Compare policy documents regardless of key order and of AWS's string/list shorthand."""

    def normalize(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normalize(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            items = [normalize(v) for v in value]
            if all(isinstance(i, str) for i in items):
                return sorted(items) if len(items) != 1 else items[0]
            return items
        return value

    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps(normalize(document), sort_keys=True)
