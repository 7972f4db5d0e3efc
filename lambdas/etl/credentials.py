"""The warehouse password and CA certificate, read from SSM Parameter Store once per container.

On AWS the ETL's environment holds parameter names, never values: ``DW_PG_PASSWORD_PARAMETER``
(a SecureString) and ``DW_PG_SSL_ROOT_CERT_PARAMETER`` (a String holding the PEM CA
certificate). They are read through the private subnet's ``ssm`` interface endpoint at the
first connection of a container and kept for its life. ``password(name, refresh=True)`` reads
the password again: ``PgTarget.connect`` does so once when PostgreSQL refuses the cached one, so
a rotation needs no redeploy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .db import WarehouseUnreachable

PEM_MARKER = "-----BEGIN CERTIFICATE-----"

_lock = threading.Lock()  # the derive phase may open its second connection from another thread
_passwords: dict[str, str] = {}
_cert_files: dict[str, str] = {}
_client: Any = None


class ParameterUnavailable(WarehouseUnreachable):
    """An SSM parameter the ETL needs could not be read (raised like an unreachable warehouse:
    the run fails before anything is marked done)."""


def password(name: str, refresh: bool = False) -> str:
    """The SecureString ``name``, decrypted; read from SSM on first use or when ``refresh``."""
    with _lock:
        if refresh or name not in _passwords:
            _passwords[name] = _read(name, decrypt=True)
        return _passwords[name]


def root_cert_file(name: str) -> str:
    """The path of a file holding the PEM certificate in the String parameter ``name``, written
    to the temporary directory (Lambda: /tmp) once per container."""
    with _lock:
        path = _cert_files.get(name)
        if path is None:
            pem = _read(name, decrypt=False)
            if PEM_MARKER not in pem:
                raise ParameterUnavailable(f"SSM parameter {name} holds no PEM certificate")
            path = _cert_files[name] = _write_pem(name, pem)
        return path


def clear() -> None:
    """Forget what was read and the client (a new container starts like this; tests use it)."""
    global _client
    with _lock:
        _passwords.clear()
        _cert_files.clear()
        _client = None


def _ssm() -> Any:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # Short timeouts and few retries: without a route to the ssm endpoint the call would
        # otherwise hang until the Lambda times out instead of failing with the reason.
        _client = boto3.client("ssm", config=Config(connect_timeout=5, read_timeout=10,
                                                    retries={"max_attempts": 3, "mode": "standard"}))
    return _client


class _DropResponseBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Response body")


@contextlib.contextmanager
def _no_body_logging() -> Iterator[None]:
    # botocore logs every response body at DEBUG: that of a decrypting GetParameter is the password.
    logger = logging.getLogger("botocore.parsers")
    quiet = _DropResponseBodies()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _read(name: str, decrypt: bool) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        with _no_body_logging():
            value = _ssm().get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]["Value"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ParameterUnavailable(f"cannot read SSM parameter {name}: {error.get('Code', 'error')} "
                                   f"{error.get('Message', '')}".rstrip()) from exc
    except BotoCoreError as exc:
        raise ParameterUnavailable(f"cannot reach SSM for parameter {name} (is the ssm VPC endpoint reachable "
                                   f"from the ETL's subnet?): {exc}") from exc
    if not value:
        raise ParameterUnavailable(f"SSM parameter {name} is empty")
    return value


def _write_pem(name: str, pem: str) -> str:
    # One file per parameter name; written beside and renamed, so a reader never sees half a file.
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"clickstream-etl-ca-{digest}.pem"
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(pem if pem.endswith("\n") else pem + "\n", encoding="ascii")
    os.replace(partial, path)
    return str(path)
