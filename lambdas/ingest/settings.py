"""Ingest configuration, read from the function's environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from clickstream_common import dialect as dialects
from clickstream_common.envconfig import ConfigurationError, env_bool, env_int

__all__ = ["ENV_NAMES", "ConfigurationError", "Settings", "current"]

# Every variable Settings.from_env reads (tests/ingest/test_settings.py keeps this complete).
ENV_NAMES = ("RAW_BUCKET_NAME", "CORS_ALLOWED_ORIGINS", "CORS_ALLOW_CREDENTIALS", "INGEST_ROUTE_PATH",
             "MAX_EVENTS_PER_REQUEST", "MAX_BODY_BYTES", "SOURCE_IPV4_PREFIX", "SOURCE_IPV6_PREFIX", "RAW_GZIP",
             "S3_MAX_ATTEMPTS", "RETRY_AFTER_SECONDS", "INGEST_DIALECT", "INGEST_ORIGIN_DIALECTS",
             "INGEST_ROUTE_DIALECTS")


@dataclass(frozen=True, slots=True)
class Settings:
    bucket: str
    route_path: str = "/clickstream"
    max_events: int = 500
    max_body_bytes: int = 1_048_576
    cors_origins: frozenset[str] = frozenset()
    cors_allow_credentials: bool = False
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    gzip_objects: bool = False
    s3_max_attempts: int = 3
    retry_after_seconds: int = 2
    events_prefix: str = "events/"
    invalid_prefix: str = "invalid/"
    # Which tracker dialect a request's events are in (clickstream_common/dialects/): the one
    # its route names, else the one its Origin names, else the deployment's default. Never
    # guessed from the events themselves.
    dialect: str = dialects.NATIVE
    origin_dialects: tuple[tuple[str, str], ...] = ()
    route_dialects: tuple[tuple[str, str], ...] = ()

    def route(self, path: str) -> tuple[bool, str | None]:
        """(whether ``path`` is a route of this function, the dialect the route names or None)."""
        path = path.rstrip("/") or "/"
        if path == (self.route_path.rstrip("/") or "/"):
            return True, None
        for route, name in self.route_dialects:
            if route == path:
                return True, name
        return False, None

    def dialect_for(self, route_dialect: str | None, origin: str | None) -> str:
        if route_dialect is not None:
            return route_dialect
        if origin is not None:
            for allowed, name in self.origin_dialects:
                if allowed == origin:
                    return name
        return self.dialect

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        bucket = env.get("RAW_BUCKET_NAME", "").strip()
        if not bucket:
            raise ConfigurationError("RAW_BUCKET_NAME is not set")
        origins = frozenset(o.strip().rstrip("/") for o in env.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip())
        credentials = env_bool(env, "CORS_ALLOW_CREDENTIALS", False)
        if credentials and "*" in origins:
            # Browsers refuse a wildcard origin on credentialed requests; the seed shipped exactly that.
            raise ConfigurationError("CORS_ALLOWED_ORIGINS may not contain '*' when CORS_ALLOW_CREDENTIALS is true")
        default_dialect = env.get("INGEST_DIALECT", "").strip() or dialects.NATIVE
        origin_dialects = _pairs(env, "INGEST_ORIGIN_DIALECTS", lambda o: o.rstrip("/"))
        route_dialects = _pairs(env, "INGEST_ROUTE_DIALECTS", lambda r: "/" + r.strip("/"))
        for name in {default_dialect, *(n for _, n in origin_dialects), *(n for _, n in route_dialects)}:
            try:
                dialects.get(name)  # checked at start: a bad name or file must not wait for traffic
            except dialects.DialectError as exc:
                raise ConfigurationError(f"tracker dialect: {exc}") from None
        return cls(
            dialect=default_dialect,
            origin_dialects=origin_dialects,
            route_dialects=route_dialects,
            bucket=bucket,
            route_path=env.get("INGEST_ROUTE_PATH", "/clickstream") or "/clickstream",
            max_events=env_int(env, "MAX_EVENTS_PER_REQUEST", 500, 1, 10_000),
            max_body_bytes=env_int(env, "MAX_BODY_BYTES", 1_048_576, 1_024, 6_000_000),
            cors_origins=origins,
            cors_allow_credentials=credentials,
            ipv4_prefix=env_int(env, "SOURCE_IPV4_PREFIX", 24, 0, 32),
            ipv6_prefix=env_int(env, "SOURCE_IPV6_PREFIX", 48, 0, 128),
            gzip_objects=env_bool(env, "RAW_GZIP", False),
            s3_max_attempts=env_int(env, "S3_MAX_ATTEMPTS", 3, 1, 10),
            retry_after_seconds=env_int(env, "RETRY_AFTER_SECONDS", 2, 1, 3600),
        )


def _pairs(env: Mapping[str, str], name: str, clean) -> tuple[tuple[str, str], ...]:
    """``key=dialect,key=dialect`` (keys are origins or route paths)."""
    pairs = []
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.strip().rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigurationError(f"{name}: {item.strip()!r} is not <key>=<dialect>")
        pairs.append((clean(key.strip()), value.strip()))
    return tuple(pairs)


_parsed: dict[tuple, Settings] = {}
# os.environ.get decodes every value it returns and costs ~1 us a name, a tenth of a
# one-event request; the cache key only needs the raw values, which CPython keeps in
# os.environ's backing dict (encoded names on POSIX). Elsewhere, the public way.
_ENVIRON_DATA = getattr(os.environ, "_data", None)
if os.name == "posix" and isinstance(_ENVIRON_DATA, dict):
    _ENV_KEYS = tuple(os.environ.encodekey(name) for name in ENV_NAMES)

    def _raw_values() -> tuple:
        return tuple(map(_ENVIRON_DATA.get, _ENV_KEYS))
else:  # pragma: no cover - not CPython on POSIX

    def _raw_values() -> tuple:
        return tuple(map(os.environ.get, ENV_NAMES))


def current() -> Settings:
    """``Settings.from_env()``, parsed again only when one of its variables changed.

    A Lambda's environment never changes, but the tests change it between calls; reading the
    raw values is cheap, parsing and checking them on every request is not.
    """
    key = _raw_values()
    settings = _parsed.get(key)
    if settings is None:
        settings = Settings.from_env()
        if len(_parsed) >= 64:
            _parsed.clear()
        _parsed[key] = settings
    return settings
