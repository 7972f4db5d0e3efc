"""PostgreSQL connections for the ETL and the warehouse tools (pg8000, pure Python)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
from dataclasses import dataclass, field
from typing import Any

from clickstream_common.observability import log_line

SSL_MODES = ("disable", "require", "verify-full")
# invalid_password, invalid_authorization_specification: the login was refused, not the network.
AUTH_SQLSTATES = frozenset({"28P01", "28000"})


class WarehouseUnreachable(RuntimeError):
    """The warehouse could not be reached or refused the login."""


class WarehouseAuthFailed(WarehouseUnreachable):
    """PostgreSQL refused the user name or password (SQLSTATE 28P01 or 28000)."""

    def __init__(self, message: str, sqlstate: str):
        super().__init__(message)
        self.sqlstate = sqlstate


_warned_unverified = False


def _warn_unverified_once() -> None:
    # Once per process (a Lambda container): every run would repeat the same line otherwise.
    # stderr, so that CLIs printing JSON on stdout stay parseable; Lambda logs both.
    global _warned_unverified
    if not _warned_unverified:
        _warned_unverified = True
        log_line("WARNING", "warehouse TLS certificate is not verified (sslmode require): the connection is "
                 "encrypted but open to an impostor; use verify-full with a CA certificate",
                 stream=sys.stderr, sslmode="require")


def ssl_context(mode: str, root_cert: str | None = None) -> ssl.SSLContext | None:
    """``disable``: plain TCP; ``require``: TLS without certificate checks (like libpq), an
    explicit opt-out that logs a warning once per process; ``verify-full``: TLS checking the
    certificate chain (``root_cert`` or the system store) and host name."""
    if mode == "disable":
        return None
    if mode == "require":
        _warn_unverified_once()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if mode == "verify-full":
        return ssl.create_default_context(cafile=root_cert)
    raise ValueError(f"unknown sslmode {mode!r}; expected one of {', '.join(SSL_MODES)}")


def ssl_mode_from_env(value: str | None) -> str:
    """DW_PG_SSL: the seed used true/false; sslmode names are accepted too. Default: verify-full."""
    text = (value or "verify-full").strip().lower()
    if text in ("true", "1", "yes", "on"):
        return "verify-full"
    if text in ("false", "0", "no", "off"):
        return "disable"
    if text not in SSL_MODES:
        raise ValueError(f"DW_PG_SSL={value!r}: expected true, false or one of {', '.join(SSL_MODES)}")
    return text


def _sqlstate(exc: BaseException) -> str:
    details = exc.args[0] if exc.args else None
    return str(details.get("C", "")) if isinstance(details, dict) else ""


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    sslmode: str = "verify-full"
    root_cert: str | None = None
    connect_timeout: float = 10.0
    io_timeout: float | None = 900.0  # long derive statements; a Lambda lives 15 min at most
    # On AWS the environment names SSM parameters instead of holding the values; they are read
    # at the first connection of a container (credentials.py) and win over password/root_cert
    # only when those are empty.
    password_parameter: str | None = None
    root_cert_parameter: str | None = None

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def connect(self) -> Any:
        """A new connection. With ``password_parameter``, a refused password is read again from
        SSM once (it may have been rotated since this container cached it) and tried once more."""
        if not self.password_parameter or self.password:
            return self._open(self.password)
        from . import credentials

        name = self.password_parameter
        password = credentials.password(name)
        try:
            return self._open(password)
        except WarehouseAuthFailed as refused:
            log_line("WARNING", "warehouse refused the cached password; reading the parameter again",
                     stream=sys.stderr, parameter=name, target=self.label, sqlstate=refused.sqlstate)
            fresh = credentials.password(name, refresh=True)
            if fresh == password:
                raise WarehouseAuthFailed(
                    f"PostgreSQL refused {self.label} ({refused.sqlstate}) with the password in SSM parameter "
                    f"{name}, which is unchanged when read again: the warehouse login and the parameter "
                    "disagree (runbooks/rotate-db-passwords.md)", refused.sqlstate) from refused
        try:
            return self._open(fresh)
        except WarehouseAuthFailed as again:
            raise WarehouseAuthFailed(
                f"PostgreSQL refused {self.label} ({again.sqlstate}) with the password read again from SSM "
                f"parameter {name}: the warehouse login and the parameter disagree "
                "(runbooks/rotate-db-passwords.md)", again.sqlstate) from again

    def _root_cert(self) -> str | None:
        if self.root_cert or not self.root_cert_parameter or self.sslmode != "verify-full":
            return self.root_cert
        from . import credentials

        return credentials.root_cert_file(self.root_cert_parameter)

    def _open(self, password: str) -> Any:
        import pg8000.native

        root_cert = self._root_cert()
        try:
            connection = pg8000.native.Connection(
                self.user,
                host=self.host,
                port=self.port,
                database=self.database,
                password=password,
                ssl_context=ssl_context(self.sslmode, root_cert),
                timeout=self.connect_timeout,
                application_name="clickstream-etl",
            )
        except (OSError, pg8000.native.InterfaceError, pg8000.native.DatabaseError) as exc:
            message = f"cannot connect to PostgreSQL {self.label}: {exc}"
            code = _sqlstate(exc)
            if code in AUTH_SQLSTATES:
                raise WarehouseAuthFailed(message, code) from exc
            raise WarehouseUnreachable(message) from exc
        # The connect timeout must stay short (unreachable hosts), statements may run long.
        sock = getattr(connection, "_usock", None)
        if sock is not None:
            sock.settimeout(self.io_timeout)
            # As libpq does: pg8000 leaves Nagle's algorithm on, and a COPY's last small write
            # then waits for the server's delayed ACK, tens of milliseconds per COPY.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection
