"""PostgreSQL connections for the ETL and the warehouse tools (pg8000, pure Python)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

SSL_MODES = ("disable", "require", "verify-full")


class WarehouseUnreachable(RuntimeError):
    """The warehouse could not be reached or refused the login."""


def ssl_context(mode: str, root_cert: str | None = None) -> ssl.SSLContext | None:
    """``disable``: plain TCP; ``require``: TLS without certificate checks (like libpq);
    ``verify-full``: TLS checking the certificate chain (``root_cert`` or the system store) and host name."""
    if mode == "disable":
        return None
    if mode == "require":
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


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    database: str
    user: str
    password: str
    sslmode: str = "verify-full"
    root_cert: str | None = None
    connect_timeout: float = 10.0
    io_timeout: float | None = 900.0  # long derive statements; a Lambda lives 15 min at most

    def connect(self) -> Any:
        import pg8000.native

        try:
            connection = pg8000.native.Connection(
                self.user,
                host=self.host,
                port=self.port,
                database=self.database,
                password=self.password,
                ssl_context=ssl_context(self.sslmode, self.root_cert),
                timeout=self.connect_timeout,
                application_name="clickstream-etl",
            )
        except (OSError, pg8000.native.InterfaceError, pg8000.native.DatabaseError) as exc:
            raise WarehouseUnreachable(
                f"cannot connect to PostgreSQL {self.user}@{self.host}:{self.port}/{self.database}: {exc}"
            ) from exc
        # The connect timeout must stay short (unreachable hosts), statements may run long.
        sock = getattr(connection, "_usock", None)
        if sock is not None:
            sock.settimeout(self.io_timeout)
            # As libpq does: pg8000 leaves Nagle's algorithm on, and a COPY's last small write
            # then waits for the server's delayed ACK, ~40 ms per COPY (measured).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection
