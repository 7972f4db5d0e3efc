"""One YAML file per environment, validated into frozen dataclasses.

Every error names the offending field with its dotted path (`network.vpc_cidr: ...`), and
unknown keys are refused so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import sys
import types
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEBIAN_12_AMI_PARAMETER = "/aws/service/debian/release/12/latest/amd64"


class ConfigError(ValueError):
    def __init__(self, field_path: str, problem: str):
        super().__init__(f"{field_path}: {problem}")
        self.field_path = field_path


@dataclass(frozen=True)
class Network:
    vpc_cidr: str = "10.0.0.0/16"
    public_subnet_cidr: str = "10.0.1.0/24"
    private_subnet_1_cidr: str = "10.0.2.0/24"
    private_subnet_2_cidr: str = "10.0.3.0/24"
    availability_zone: str = ""  # empty: the region's "a" zone
    ssm_interface_endpoints: bool = True
    # VPC flow logs to CloudWatch Logs (retention observability.log_retention_days); off by default.
    flow_logs: bool = False
    flow_logs_traffic_type: str = "ALL"  # ALL | ACCEPT | REJECT


@dataclass(frozen=True)
class Access:
    admin_cidrs: tuple[str, ...] = ()
    oltp_client_cidrs: tuple[str, ...] = ()
    oltp_ssh: bool = False  # SSH to the OLTP host from admin_cidrs; off means Session Manager only
    allow_public_postgres: bool = False  # the only way to accept 0.0.0.0/0 on 5432


@dataclass(frozen=True)
class Host:
    instance_type: str = "t3.small"
    volume_gb: int = 20


@dataclass(frozen=True)
class Hosts:
    ami_id: str = ""  # pin an AMI; empty: resolve ami_ssm_parameter
    ami_ssm_parameter: str = DEBIAN_12_AMI_PARAMETER
    oltp: Host = Host()
    dw: Host = Host(instance_type="t3.medium", volume_gb=40)
    oltp_database: str = "storefront"  # only for the DATABASE_URL template in the outputs


@dataclass(frozen=True)
class Storage:
    raw_bucket_name: str = ""  # empty: <project>-<environment>-raw-<account>-<region>
    raw_expiration_days: int = 0  # 0: keep raw events forever
    raw_transition_ia_days: int = 30  # 0: never move to STANDARD_IA
    invalid_expiration_days: int = 90
    backups_expiration_days: int = 35
    extra_endpoint_buckets: tuple[str, ...] = ()  # more buckets the private subnets may reach
    ssm_transfer_bucket_name: str = ""  # empty: <project>-<environment>-ssm-<account>-<region>
    ssm_transfer_expiration_days: int = 1  # Ansible's aws_ssm files are transient


@dataclass(frozen=True)
class Ingest:
    cors_allowed_origins: tuple[str, ...] = ()
    cors_allow_credentials: bool = False
    # The tracker dialect of the store's events (lambdas/clickstream_common/dialects/): the
    # deployment's default, per origin (origin -> dialect) and per extra route (path -> dialect,
    # each a POST/OPTIONS route of its own).
    dialect: str = "clickstream"
    origin_dialects: dict[str, str] = field(default_factory=dict)
    route_dialects: dict[str, str] = field(default_factory=dict)
    max_events_per_request: int = 500
    max_body_bytes: int = 1_048_576
    raw_gzip: bool = False
    source_ipv4_prefix: int = 24
    source_ipv6_prefix: int = 48
    memory_mb: int = 256
    timeout_seconds: int = 10
    throttling_rate_limit: float = 100.0
    throttling_burst_limit: int = 200


def _lambdas_importable() -> None:
    from toolkit.provision.lambda_zips import LAMBDAS_DIR

    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))


def _etl_default_lookback_hours() -> int:
    """The ETL Lambda's own default (lambdas/etl/settings.py), so that provisioning and the
    function never disagree about it."""
    _lambdas_importable()
    from etl.settings import DEFAULT_LOOKBACK_HOURS

    return DEFAULT_LOOKBACK_HOURS


def _etl_default_attribution_lookback_days() -> int:
    """The ETL's default attribution lookback (lambdas/etl/settings.py)."""
    _lambdas_importable()
    from etl.settings import DEFAULT_ATTRIBUTION_LOOKBACK_DAYS

    return DEFAULT_ATTRIBUTION_LOOKBACK_DAYS


def _etl_default_page_path_rule() -> Any:
    """The ETL's default page path rule (lambdas/etl/page_paths.py), the defaults of etl.page_paths."""
    _lambdas_importable()
    from etl.page_paths import DEFAULT_RULE

    return DEFAULT_RULE


@dataclass(frozen=True)
class PagePaths:
    """How the ETL spells page paths (ETL_PAGE_PATH_RULES; docs/warehouse.md, page paths)."""
    index_pages: tuple[str, ...] = _etl_default_page_path_rule().index_pages
    strip_extensions: tuple[str, ...] = _etl_default_page_path_rule().strip_extensions
    trailing_slash: str = _etl_default_page_path_rule().trailing_slash  # fold | keep
    lowercase: bool = _etl_default_page_path_rule().lowercase


@dataclass(frozen=True)
class Etl:
    schedule: str = "cron(0/30 * * * ? *)"
    lookback_hours: int = _etl_default_lookback_hours()
    memory_mb: int = 512
    timeout_seconds: int = 300
    max_retry_attempts: int = 2
    lag_alarm_seconds: int = 5400
    dw_port: int = 5432
    dw_user: str = "etl_loader"  # the ETL's login, created by the Ansible dw role (roles/dw)
    dw_database: str = "clickstream"
    # The currency (ISO 4217) of the amounts of events that name none (ETL_STORE_CURRENCY);
    # empty: such amounts keep no currency.
    store_currency: str = ""
    page_paths: PagePaths = PagePaths()
    # How far before a conversion its visitor's sessions count as its touchpoints
    # (ETL_ATTRIBUTION_LOOKBACK_DAYS). Reprocess to apply a change to loaded conversions.
    attribution_lookback_days: int = _etl_default_attribution_lookback_days()


@dataclass(frozen=True)
class Observability:
    log_retention_days: int = 30
    alarm_actions: tuple[str, ...] = ()  # more ARNs beside the deployment's own SNS topic
    alarm_email: tuple[str, ...] = ()  # subscribed to the alarm topic (each confirms by email)
    alarm_https_endpoints: tuple[str, ...] = ()  # https:// webhooks subscribed to the alarm topic
    dashboard: bool = True  # the pipeline's CloudWatch dashboard


@dataclass(frozen=True)
class Config:
    project: str
    environment: str
    region: str
    network: Network = Network()
    access: Access = Access()
    hosts: Hosts = Hosts()
    storage: Storage = Storage()
    ingest: Ingest = Ingest()
    etl: Etl = Etl()
    observability: Observability = Observability()
    artifacts_dir: str = "build/lambdas"
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def az(self) -> str:
        return self.network.availability_zone or f"{self.region}a"

    def tags(self, **extra: str) -> dict[str, str]:
        return {"Project": self.project, "Environment": self.environment, "ManagedBy": "clickstream-provision",
                **extra}


LOG_RETENTION_VALUES = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                        2557, 2922, 3288, 3653}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
SCHEDULE_PATTERN = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
ORIGIN_PATTERN = re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?)$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
FLOW_LOG_TRAFFIC_TYPES = ("ALL", "ACCEPT", "REJECT")


def _build(cls: type, raw: Any, path: str, base: Any = None) -> Any:
    """`cls` from the mapping `raw`; fields it leaves out keep their value in `base` (the
    field's own default, so `dw: {volume_gb: 60}` keeps the DW host's instance type)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path or "(top level)", f"expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "warnings"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(where, f"unknown field (known: {', '.join(sorted(fields))})")
    values = {}
    for name, spec in fields.items():
        where = f"{path}.{name}" if path else name
        if name not in raw:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(where, "is required")
            continue
        nested = getattr(base, name) if base is not None else spec.default
        values[name] = _coerce(hints[name], raw[name], where, nested)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _coerce(kind: Any, value: Any, where: str, default: Any = None) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where, default if dataclasses.is_dataclass(default) else None)
    origin = typing.get_origin(kind)
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(where, f"expected a mapping, got {type(value).__name__}")
        return {_coerce(str, k, f"{where}"): _coerce(str, v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigError(where, f"expected a list, got {type(value).__name__}")
        return tuple(_coerce(str, item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is types.UnionType:
        raise ConfigError(where, "unsupported type")
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(where, f"expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(where, f"expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(where, f"expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ConfigError(where, f"expected a string, got {value!r}")
        return value
    raise ConfigError(where, f"unsupported type {kind}")


def _network(value: str, where: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ConfigError(where, f"not an IPv4 CIDR block: {exc}") from None


def _in_range(value: int, lo: int, hi: int, where: str) -> None:
    if not lo <= value <= hi:
        raise ConfigError(where, f"must be between {lo} and {hi}, got {value}")


ROUTE_PATTERN = re.compile(r"^/[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")


def _ingest_dialects(ingest: Ingest) -> None:
    from toolkit.provision.lambda_zips import LAMBDAS_DIR

    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    from clickstream_common import dialect

    def check(name: str, where: str) -> None:
        try:
            dialect.get(name)
        except dialect.DialectError as exc:
            raise ConfigError(where, str(exc)) from None

    check(ingest.dialect, "ingest.dialect")
    allowed = {o.rstrip("/") for o in ingest.cors_allowed_origins}
    for origin, name in ingest.origin_dialects.items():
        if origin.rstrip("/") not in allowed:
            raise ConfigError(f"ingest.origin_dialects.{origin}", "not one of ingest.cors_allowed_origins")
        check(name, f"ingest.origin_dialects.{origin}")
    for route, name in ingest.route_dialects.items():
        if not ROUTE_PATTERN.match(route) or route.rstrip("/") == "/clickstream":
            raise ConfigError(f"ingest.route_dialects.{route}",
                              "a path such as /sbw/clickstream (lower case, not /clickstream itself)")
        check(name, f"ingest.route_dialects.{route}")


def _alarm_subscriptions(obs: Observability) -> None:
    seen: set[str] = set()
    for i, address in enumerate(obs.alarm_email):
        where = f"observability.alarm_email[{i}]"
        if not EMAIL_PATTERN.match(address) or len(address) > 254:
            raise ConfigError(where, f"not an email address: {address!r}")
        if address.lower() in seen:
            raise ConfigError(where, f"{address} is listed twice")
        seen.add(address.lower())
    for i, url in enumerate(obs.alarm_https_endpoints):
        where = f"observability.alarm_https_endpoints[{i}]"
        parsed = urllib.parse.urlsplit(url)
        # Plain http would carry the alarm's details unencrypted: SNS accepts it, this does not.
        if parsed.scheme != "https" or not parsed.hostname or any(c.isspace() for c in url):
            raise ConfigError(where, f"expected an https:// URL, got {url!r}")
        if url in seen:
            raise ConfigError(where, f"{url} is listed twice")
        seen.add(url)


def validate(config: Config) -> Config:
    """Check relations between fields; returns the config with its warnings attached."""
    if not NAME_PATTERN.match(config.project):
        raise ConfigError("project", "lowercase letters, digits and '-', 2-21 characters, starting with a letter")
    if not NAME_PATTERN.match(config.environment):
        raise ConfigError("environment", "lowercase letters, digits and '-', 2-21 characters")
    if not REGION_PATTERN.match(config.region):
        raise ConfigError("region", f"not an AWS region name: {config.region!r}")
    warnings: list[str] = []
    for section in (_validate_network, _validate_access, _validate_hosts, _validate_storage, _validate_ingest,
                    _validate_etl, _validate_observability):
        warnings.extend(section(config))
    return dataclasses.replace(config, warnings=tuple(warnings))


def _validate_network(config: Config) -> list[str]:
    net = config.network
    vpc = _network(net.vpc_cidr, "network.vpc_cidr")
    if not 16 <= vpc.prefixlen <= 28:
        raise ConfigError("network.vpc_cidr", "VPC blocks must be between /16 and /28")
    subnets = {}
    for name in ("public_subnet_cidr", "private_subnet_1_cidr", "private_subnet_2_cidr"):
        block = _network(getattr(net, name), f"network.{name}")
        if not block.subnet_of(vpc):
            raise ConfigError(f"network.{name}", f"{block} is not inside the VPC {vpc}")
        for other, other_block in subnets.items():
            if block.overlaps(other_block):
                raise ConfigError(f"network.{name}", f"{block} overlaps network.{other} {other_block}")
        subnets[name] = block
    if net.availability_zone and not net.availability_zone.startswith(config.region):
        raise ConfigError("network.availability_zone", f"must be a zone of {config.region}")
    if net.flow_logs_traffic_type not in FLOW_LOG_TRAFFIC_TYPES:
        raise ConfigError("network.flow_logs_traffic_type",
                          f"one of {', '.join(FLOW_LOG_TRAFFIC_TYPES)}, got {net.flow_logs_traffic_type!r}")
    return []


def _validate_access(config: Config) -> list[str]:
    warnings: list[str] = []
    access = config.access
    for i, cidr in enumerate(access.admin_cidrs):
        if _network(cidr, f"access.admin_cidrs[{i}]").prefixlen == 0:
            raise ConfigError(f"access.admin_cidrs[{i}]", "0.0.0.0/0 is not an admin network")
    if access.oltp_ssh and not access.admin_cidrs:
        raise ConfigError("access.oltp_ssh", "needs at least one access.admin_cidrs entry")
    for i, cidr in enumerate(access.oltp_client_cidrs):
        if _network(cidr, f"access.oltp_client_cidrs[{i}]").prefixlen == 0:
            if not access.allow_public_postgres:
                raise ConfigError(
                    f"access.oltp_client_cidrs[{i}]",
                    "0.0.0.0/0 would open PostgreSQL to the internet; set access.allow_public_postgres: true "
                    "to accept that explicitly",
                )
            warnings.append("access.oltp_client_cidrs opens 5432 on the OLTP host to the whole internet")
    return warnings


def _validate_hosts(config: Config) -> list[str]:
    hosts = config.hosts
    if hosts.ami_id and not re.match(r"^ami-[0-9a-f]{8,17}$", hosts.ami_id):
        raise ConfigError("hosts.ami_id", f"not an AMI id: {hosts.ami_id!r}")
    if not hosts.ami_id and not hosts.ami_ssm_parameter.startswith("/"):
        raise ConfigError("hosts.ami_ssm_parameter", "must be an SSM parameter path starting with '/'")
    for role in ("oltp", "dw"):
        host: Host = getattr(hosts, role)
        if not re.match(r"^[a-z0-9]+\.[a-z0-9]+$", host.instance_type):
            raise ConfigError(f"hosts.{role}.instance_type", f"not an instance type: {host.instance_type!r}")
        _in_range(host.volume_gb, 8, 16384, f"hosts.{role}.volume_gb")
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", hosts.oltp_database):
        raise ConfigError("hosts.oltp_database", "lowercase PostgreSQL identifier expected")
    return []


def _validate_storage(config: Config) -> list[str]:
    storage = config.storage
    for name in ("raw_bucket_name", "ssm_transfer_bucket_name"):
        value = getattr(storage, name)
        if value and not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value):
            raise ConfigError(f"storage.{name}", "not a valid S3 bucket name")
    if storage.raw_bucket_name and storage.raw_bucket_name == storage.ssm_transfer_bucket_name:
        # The transfer bucket is emptied by every destroy; it must never be the data bucket.
        raise ConfigError("storage.ssm_transfer_bucket_name", "must differ from storage.raw_bucket_name")
    _in_range(storage.ssm_transfer_expiration_days, 1, 30, "storage.ssm_transfer_expiration_days")
    for name in ("raw_expiration_days", "raw_transition_ia_days", "invalid_expiration_days",
                 "backups_expiration_days"):
        _in_range(getattr(storage, name), 0, 36500, f"storage.{name}")
    if storage.raw_transition_ia_days and storage.raw_transition_ia_days < 30:
        raise ConfigError("storage.raw_transition_ia_days", "S3 needs at least 30 days before STANDARD_IA")
    if storage.raw_expiration_days and storage.raw_expiration_days <= storage.raw_transition_ia_days:
        raise ConfigError("storage.raw_expiration_days", "must come after storage.raw_transition_ia_days")
    return []


def _validate_ingest(config: Config) -> list[str]:
    warnings: list[str] = []
    ingest = config.ingest
    for i, origin in enumerate(ingest.cors_allowed_origins):
        if not ORIGIN_PATTERN.match(origin.rstrip("/")):
            raise ConfigError(f"ingest.cors_allowed_origins[{i}]", f"not an origin (scheme://host[:port]): {origin!r}")
    if ingest.cors_allow_credentials and "*" in ingest.cors_allowed_origins:
        raise ConfigError("ingest.cors_allowed_origins", "'*' cannot be combined with cors_allow_credentials")
    if "*" in ingest.cors_allowed_origins:
        warnings.append("ingest.cors_allowed_origins contains '*': any site may post events")
    _ingest_dialects(ingest)
    _in_range(ingest.max_events_per_request, 1, 10_000, "ingest.max_events_per_request")
    _in_range(ingest.max_body_bytes, 1024, 6_000_000, "ingest.max_body_bytes")
    _in_range(ingest.source_ipv4_prefix, 0, 32, "ingest.source_ipv4_prefix")
    _in_range(ingest.source_ipv6_prefix, 0, 128, "ingest.source_ipv6_prefix")
    _in_range(ingest.memory_mb, 128, 10240, "ingest.memory_mb")
    _in_range(ingest.timeout_seconds, 1, 29, "ingest.timeout_seconds")  # API Gateway waits 30 s at most
    _in_range(ingest.throttling_burst_limit, 1, 100_000, "ingest.throttling_burst_limit")
    if not 0 < ingest.throttling_rate_limit <= 100_000:
        raise ConfigError("ingest.throttling_rate_limit", "must be above 0 and at most 100000")
    return warnings


def _validate_etl(config: Config) -> list[str]:
    etl = config.etl
    if not SCHEDULE_PATTERN.match(etl.schedule):
        raise ConfigError("etl.schedule", f"expected cron(...) or rate(N minutes|hours|days), got {etl.schedule!r}")
    _in_range(etl.lookback_hours, 1, 24 * 14, "etl.lookback_hours")
    _in_range(etl.attribution_lookback_days, 1, 366, "etl.attribution_lookback_days")
    _in_range(etl.memory_mb, 128, 10240, "etl.memory_mb")
    _in_range(etl.timeout_seconds, 1, 900, "etl.timeout_seconds")
    _in_range(etl.max_retry_attempts, 0, 2, "etl.max_retry_attempts")
    _in_range(etl.lag_alarm_seconds, 60, 7 * 86400, "etl.lag_alarm_seconds")
    _in_range(etl.dw_port, 1, 65535, "etl.dw_port")
    for name in ("dw_user", "dw_database"):
        if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", getattr(etl, name)):
            raise ConfigError(f"etl.{name}", "lowercase PostgreSQL identifier expected")
    _lambdas_importable()
    from clickstream_common import currencies

    if etl.store_currency:
        try:
            currencies.check_store_currency(etl.store_currency, "etl.store_currency")
        except ValueError as exc:
            raise ConfigError("etl.store_currency", str(exc).removeprefix("etl.store_currency: ")) from None
    page_path_rule(etl)
    return []


def page_path_rule(etl: Etl) -> Any:
    """etl.page_paths as the ETL's PagePathRule; ConfigError naming the option it refuses."""
    _lambdas_importable()
    from etl.page_paths import PagePathRule, PagePathRuleError

    p = etl.page_paths
    try:
        return PagePathRule(index_pages=p.index_pages, strip_extensions=p.strip_extensions,
                            trailing_slash=p.trailing_slash, lowercase=p.lowercase)
    except PagePathRuleError as exc:
        raise ConfigError(f"etl.page_paths.{exc.option}" if exc.option else "etl.page_paths", exc.problem) from None


def _validate_observability(config: Config) -> list[str]:
    obs = config.observability
    if obs.log_retention_days not in LOG_RETENTION_VALUES:
        raise ConfigError("observability.log_retention_days",
                          f"CloudWatch accepts {sorted(LOG_RETENTION_VALUES)}, got {obs.log_retention_days}")
    for i, arn in enumerate(obs.alarm_actions):
        if not arn.startswith("arn:"):
            raise ConfigError(f"observability.alarm_actions[{i}]", "expected an ARN")
        parts = arn.split(":")
        # CloudWatch only acts on SNS topics of the alarm's own region.
        if len(parts) >= 6 and parts[2] == "sns" and parts[3] != config.region:
            raise ConfigError(f"observability.alarm_actions[{i}]",
                              f"an SNS topic of {parts[3]}; alarms in {config.region} can only notify topics there")
    _alarm_subscriptions(obs)
    return []


def parse(raw: Any) -> Config:
    return validate(_build(Config, raw, ""))


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML: {exc}") from None
    return parse(raw)
