"""Apply the warehouse migrations in ``sql/dw/`` and manage the ETL writer and reader logins.

Migrations are ``NNNN_<model>.sql`` files applied in order, each in its own transaction, and
recorded in ``dw_schema_migrations`` with a checksum: an applied file that changed afterwards
is an error (write a new migration instead). Runs hold an advisory lock, so two concurrent
runs (Ansible and a test, say) apply each migration once.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.dw import REPO

MIGRATIONS_DIR = REPO / "sql" / "dw"
WRITER_GROUP = "clickstream_etl_writer"
READER_GROUP = "clickstream_dashboard_reader"
_LOCK_KEY = 0x636C6B6D  # "clkm": migration runs
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_model_name.sql")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def applied(connection: Any) -> dict[int, str]:
    rows = connection.run("SELECT version, checksum FROM dw_schema_migrations")
    return {version: checksum for version, checksum in rows}


def migrate(connection: Any, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    connection.run(
        "CREATE TABLE IF NOT EXISTS dw_schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    connection.run("SELECT pg_advisory_lock(:key)", key=_LOCK_KEY)
    try:
        done = applied(connection)
        names = []
        for migration in discover(directory):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path.name} changed after it was applied; add a new migration instead"
                    )
                continue
            connection.run("START TRANSACTION")
            try:
                connection.run(migration.sql)
                connection.run(
                    "INSERT INTO dw_schema_migrations (version, name, checksum) VALUES (:v, :n, :c)",
                    v=migration.version, n=migration.name, c=migration.checksum,
                )
                connection.run("COMMIT")
            except Exception as exc:
                connection.run("ROLLBACK")
                raise MigrationError(f"{migration.path.name} failed: {exc}") from exc
            names.append(migration.path.name)
        return names
    finally:
        connection.run("SELECT pg_advisory_unlock(:key)", key=_LOCK_KEY)


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed here so the password never travels."""
    import scramp

    salt, stored_key, server_key, count = scramp.ScramMechanism().make_auth_info(password, iterations)

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${count}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def ensure_login(connection: Any, user: str, password: str, group: str, database: str) -> str:
    """Create or update a login role that is a member of ``group``; return 'created' or 'updated'."""
    if not _ROLE_NAME.match(user):
        raise MigrationError(f"role name {user!r}: use lower-case letters, digits and _ (max 63)")
    if not password:
        raise MigrationError(f"empty password for {user}")
    exists = connection.run("SELECT 1 FROM pg_roles WHERE rolname = :u", u=user)
    verb = "ALTER" if exists else "CREATE"
    # An existing login only gets its password set: PostgreSQL 15 refuses NOSUPERUSER & co. in
    # ALTER ROLE from a non-superuser owner, and a new login is created without them anyway.
    template = ("ALTER ROLE %I WITH LOGIN PASSWORD %L" if exists else
                "CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD %L")
    # Role names and the verifier are quoted server-side by format(); nothing is spliced here.
    (statement,) = connection.run(
        "SELECT format(CAST(:t AS text), CAST(:u AS text), CAST(:v AS text))",
        t=template, u=user, v=scram_verifier(password),
    )[0]
    connection.run(statement)
    (grant,) = connection.run("SELECT format('GRANT %I TO %I', CAST(:g AS text), CAST(:u AS text))", g=group, u=user)[0]
    connection.run(grant)
    (connect,) = connection.run(
        "SELECT format('GRANT CONNECT ON DATABASE %I TO %I', CAST(:d AS text), CAST(:u AS text))",
        d=database, u=user)[0]
    connection.run(connect)
    return "created" if verb == "CREATE" else "updated"


def drop_partitions_before(connection: Any, cutoff: str) -> list[str]:
    """Retention: drop the monthly event partitions that end on or before ``cutoff`` (ISO time)."""
    rows = connection.run("SELECT dw_drop_event_partitions_before(CAST(:c AS timestamptz))", c=cutoff)
    return [r[0] for r in rows]
