"""ETL configuration from the function's environment (the seed's variable names)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from clickstream_common import currencies
from clickstream_common.envconfig import ConfigurationError, env_int

from .db import PgTarget, ssl_mode_from_env
from .page_paths import DEFAULT_RULE, PagePathRule, PagePathRuleError

__all__ = ["DEFAULT_ATTRIBUTION_LOOKBACK_DAYS", "DEFAULT_LOOKBACK_HOURS", "ConfigurationError", "Settings"]

# How far back a scheduled run lists raw objects. The one source of this default: provisioning
# (toolkit/provision/config.py, etl.lookback_hours) imports it.
DEFAULT_LOOKBACK_HOURS = 48
# How far before a conversion its visitor's sessions count as its touchpoints
# (sql/dw/models/aggregates/agg_daily_attribution.sql).
DEFAULT_ATTRIBUTION_LOOKBACK_DAYS = 30


@dataclass(frozen=True, slots=True)
class Settings:
    bucket: str
    target: PgTarget
    lookback: timedelta = timedelta(hours=DEFAULT_LOOKBACK_HOURS)
    late_limit: timedelta = timedelta(days=7)
    read_workers: int = 16
    batch_objects: int = 500
    batch_bytes: int = 20_000_000  # raw bytes per load transaction (~50,000 events)
    events_prefix: str = "events/"
    # Processes that parse raw objects into COPY text beside the process that loads; 0 parses
    # in-process. Below parse_pool_min_bytes of new objects a run parses in-process: starting
    # the workers costs more than it saves.
    parse_workers: int = field(default_factory=lambda: default_parse_workers())
    parse_pool_min_bytes: int = 16_000_000
    # From this many pending session groups the derive phase uses a second connection (a second
    # PostgreSQL backend, so a second core). A half-hourly run touches a few thousand groups and
    # derives in about a second on one connection (bench_etl.py's incremental run).
    derive_parallel_min_groups: int = 20_000
    # How page paths are spelled in the warehouse (ETL_PAGE_PATH_RULES, page_paths.py).
    page_path_rule: PagePathRule = DEFAULT_RULE
    # The currency of an amount sent without one (ETL_STORE_CURRENCY, ISO 4217); None: left NULL.
    store_currency: str | None = None
    attribution_lookback_days: int = DEFAULT_ATTRIBUTION_LOOKBACK_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        bucket = env.get("RAW_BUCKET_NAME", "").strip()
        if not bucket:
            raise ConfigurationError("RAW_BUCKET_NAME is not set")
        missing = [n for n in ("DW_PG_HOST", "DW_PG_USER", "DW_PG_DATABASE") if not env.get(n, "").strip()]
        if missing:
            raise ConfigurationError(f"{', '.join(missing)} not set")
        # The password: DW_PG_PASSWORD, else DW_PG_PASSWORD_FILE (local runs keep it in a 0600
        # file), else DW_PG_PASSWORD_PARAMETER (AWS: an SSM SecureString, read at connection time).
        password = env.get("DW_PG_PASSWORD", "")
        password_file = env.get("DW_PG_PASSWORD_FILE", "").strip()
        if not password and password_file:
            try:
                password = Path(password_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(f"DW_PG_PASSWORD_FILE {password_file}: {exc.strerror}") from None
        password_parameter = None if password else env.get("DW_PG_PASSWORD_PARAMETER", "").strip() or None
        # The CA certificate: a file (DW_PG_SSL_ROOT_CERT), else an SSM String parameter.
        root_cert = env.get("DW_PG_SSL_ROOT_CERT", "").strip() or None
        root_cert_parameter = None if root_cert else env.get("DW_PG_SSL_ROOT_CERT_PARAMETER", "").strip() or None
        try:
            sslmode = ssl_mode_from_env(env.get("DW_PG_SSL"))
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        target = PgTarget(
            host=env["DW_PG_HOST"].strip(),
            port=env_int(env, "DW_PG_PORT", 5432, 1, 65535),
            database=env["DW_PG_DATABASE"].strip(),
            user=env["DW_PG_USER"].strip(),
            password=password,
            sslmode=sslmode,
            root_cert=root_cert,
            password_parameter=password_parameter,
            root_cert_parameter=root_cert_parameter,
        )
        try:
            page_path_rule = PagePathRule.from_json(env.get("ETL_PAGE_PATH_RULES"))
        except PagePathRuleError as exc:
            raise ConfigurationError(str(exc)) from None
        store_currency = env.get("ETL_STORE_CURRENCY", "").strip() or None
        if store_currency is not None:
            try:
                currencies.check_store_currency(store_currency, "ETL_STORE_CURRENCY")
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
        return cls(
            bucket=bucket,
            target=target,
            lookback=timedelta(hours=env_int(env, "ETL_LOOKBACK_HOURS", DEFAULT_LOOKBACK_HOURS, 1, 24 * 90)),
            late_limit=timedelta(hours=env_int(env, "ETL_LATE_LIMIT_HOURS", 24 * 7, 1, 24 * 3650)),
            read_workers=env_int(env, "ETL_READ_WORKERS", 16, 1, 64),
            batch_objects=env_int(env, "ETL_BATCH_OBJECTS", 500, 1, 100_000),
            batch_bytes=env_int(env, "ETL_BATCH_BYTES", 20_000_000, 1_000, 1_000_000_000),
            parse_workers=env_int(env, "ETL_PARSE_WORKERS", default_parse_workers(), 0, 64),
            derive_parallel_min_groups=env_int(env, "ETL_DERIVE_PARALLEL_MIN_GROUPS", 20_000, 0, 1_000_000_000),
            page_path_rule=page_path_rule,
            store_currency=store_currency,
            attribution_lookback_days=env_int(env, "ETL_ATTRIBUTION_LOOKBACK_DAYS", DEFAULT_ATTRIBUTION_LOOKBACK_DAYS,
                                              1, 366),
        )


def default_parse_workers() -> int:
    """One parser per CPU: the Lambda has 2 vCPUs from 3,538 MB (and the loading process mostly
    waits on PostgreSQL)."""
    return os.cpu_count() or 1
