"""Apply the warehouse schema in ``sql/dw/`` and manage the ETL writer and reader logins.

Three parts, applied in this order under one advisory lock (so two concurrent runs, Ansible
and a test say, apply each part once):

- ``baseline.sql``: the whole schema, ordered by layer, for an empty database. It says which
  numbered migrations it covers (``-- covers: 0001-NNNN``) and records them as applied, so the
  database goes on from there like any other.
- ``history/NNNN_<what>.sql``: the numbered chain an existing database upgrades through, each
  in its own transaction, recorded in ``dw_schema_migrations`` with a checksum. An applied file
  that changed afterwards is an error (write a new migration instead), unless
  ``history/rewritten.txt`` lists the checksum it had: a rewrite that leaves an upgraded
  database as the old text did (a backfill handed to the ETL, a corrected comment).
- ``models/<layer>/<table>.sql``: one definition per derived table, a ``dw_<...>_rows``
  function or a view, layered staging → events → sessions → aggregates. Repeatable, as
  Flyway's are: a model is applied again whenever its checksum changes, in layer order, and
  after anything its ``-- requires: <layer>/<name>`` lines name.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.dw import REPO

SQL_DIR = REPO / "sql" / "dw"
WRITER_GROUP = "clickstream_etl_writer"
READER_GROUP = "clickstream_dashboard_reader"
LAYERS = ("staging", "events", "sessions", "aggregates")
_LOCK_KEY = 0x636C6B6D  # "clkm": migration runs
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MODEL_NAME = re.compile(r"^[a-z0-9_]+\.sql$")
_COVERS = re.compile(r"^-- covers: (\d{4})-(\d{4})$", re.MULTILINE)
_REQUIRES = re.compile(r"^-- requires: ([a-z_]+/[a-z0-9_]+)$", re.MULTILINE)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS dw_schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS dw_schema_models ("
    " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
)


class MigrationError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        return _sha256(self.path)


@dataclass(frozen=True)
class Model:
    name: str  # "<layer>/<file stem>"
    path: Path
    requires: tuple[str, ...]

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return _sha256(self.path)


def discover(root: Path = SQL_DIR) -> list[Migration]:
    """The numbered chain in ``root/history``, in order."""
    found = []
    for path in sorted((root / "history").glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_what_it_does.sql")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def rewritten(root: Path = SQL_DIR) -> dict[str, set[str]]:
    """Earlier checksums of rewritten history files: ``<file> <sha256> <why>`` per line."""
    path = root / "history" / "rewritten.txt"
    accepted: dict[str, set[str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                name, checksum = line.split()[:2]
                accepted.setdefault(name, set()).add(checksum)
    return accepted


def baseline_covers(root: Path = SQL_DIR) -> range | None:
    """The versions ``root/baseline.sql`` stands for, or None without a baseline."""
    path = root / "baseline.sql"
    if not path.exists():
        return None
    match = _COVERS.search(path.read_text(encoding="utf-8"))
    if not match:
        raise MigrationError("baseline.sql: a '-- covers: 0001-NNNN' line says which migrations it holds")
    return range(int(match[1]), int(match[2]) + 1)


def discover_models(root: Path = SQL_DIR) -> list[Model]:
    """The models in the order they are applied: by layer, then by name, each after what it requires."""
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((root / "models" / layer).glob("*.sql")):
            if not _MODEL_NAME.match(path.name):
                raise MigrationError(f"models/{layer}/{path.name}: model files are named for their table")
            name = f"{layer}/{path.stem}"
            models[name] = Model(name, path, tuple(_REQUIRES.findall(path.read_text(encoding="utf-8"))))
    stray = sorted(p.relative_to(root).as_posix() for p in (root / "models").rglob("*.sql")
                   if p.parent.name not in LAYERS or p.parent.parent != root / "models")
    if stray:
        raise MigrationError(f"{', '.join(stray)}: models live in models/<layer>/, layers {', '.join(LAYERS)}")
    ordered: list[Model] = []
    state: dict[str, str] = {}

    def visit(model: Model, path: tuple[str, ...]) -> None:
        if state.get(model.name) == "done":
            return
        if state.get(model.name) == "visiting":
            raise MigrationError(f"models require each other in a cycle: {' -> '.join((*path, model.name))}")
        state[model.name] = "visiting"
        for need in model.requires:
            if need not in models:
                raise MigrationError(f"models/{model.name}.sql requires {need}, which is not a model")
            visit(models[need], (*path, model.name))
        state[model.name] = "done"
        ordered.append(model)

    for model in models.values():
        visit(model, ())
    return ordered


def applied(connection: Any) -> dict[int, str]:
    rows = connection.run("SELECT version, checksum FROM dw_schema_migrations")
    return {version: checksum for version, checksum in rows}


def applied_models(connection: Any) -> dict[str, str]:
    return dict(connection.run("SELECT name, checksum FROM dw_schema_models"))


def _in_transaction(connection: Any, label: str, sql: str, *bookkeeping: tuple[str, dict[str, Any]]) -> None:
    connection.run("START TRANSACTION")
    try:
        connection.run(sql)
        for statement, params in bookkeeping:
            connection.run(statement, **params)
        connection.run("COMMIT")
    except Exception as exc:
        connection.run("ROLLBACK")
        raise MigrationError(f"{label} failed: {exc}") from exc


def migrate(connection: Any, root: Path = SQL_DIR) -> list[str]:
    """Apply what is pending; return what was applied (empty when up to date)."""
    for statement in _BOOKKEEPING:
        connection.run(statement)
    connection.run("SELECT pg_advisory_lock(:key)", key=_LOCK_KEY)
    try:
        chain = discover(root)
        models = discover_models(root)
        names = _apply_baseline(connection, root, chain)
        names += _apply_history(connection, root, chain)
        names += _apply_models(connection, models)
        return names
    finally:
        connection.run("SELECT pg_advisory_unlock(:key)", key=_LOCK_KEY)


def status(connection: Any, root: Path = SQL_DIR) -> dict[str, list[str]]:
    """What is applied and what is pending, without applying anything."""
    for statement in _BOOKKEEPING:
        connection.run(statement)
    done, models_done = applied(connection), applied_models(connection)
    chain, models = discover(root), discover_models(root)
    return {
        "applied": [m.path.name for m in chain if m.version in done]
                   + [f"models/{m.name}.sql" for m in models if models_done.get(m.name) == m.checksum],
        "pending": [m.path.name for m in chain if m.version not in done]
                   + [f"models/{m.name}.sql" for m in models if models_done.get(m.name) != m.checksum],
    }


_INSERT_MIGRATION = "INSERT INTO dw_schema_migrations (version, name, checksum) VALUES (:v, :n, :c)"


def _apply_baseline(connection: Any, root: Path, chain: list[Migration]) -> list[str]:
    covers = baseline_covers(root)
    if covers is None or applied(connection):
        return []
    # Only an empty database: one that holds the warehouse without its bookkeeping is refused
    # by the chain's first CREATE, as before.
    if connection.run("SELECT to_regclass('clickstream_events') IS NOT NULL")[0][0]:
        return []
    covered = [m for m in chain if m.version in covers]
    if [m.version for m in covered] != list(covers):
        raise MigrationError(f"baseline.sql covers {covers.start:04d}-{covers.stop - 1:04d}, "
                             "but history/ does not hold each of those migrations")
    _in_transaction(
        connection, "baseline.sql", (root / "baseline.sql").read_text(encoding="utf-8"),
        *((_INSERT_MIGRATION, {"v": m.version, "n": m.name, "c": m.checksum}) for m in covered),
    )
    return [f"baseline.sql ({covers.start:04d}-{covers.stop - 1:04d})"]


def _apply_history(connection: Any, root: Path, chain: list[Migration]) -> list[str]:
    done, earlier = applied(connection), rewritten(root)
    names = []
    for migration in chain:
        if migration.version in done:
            if done[migration.version] not in {migration.checksum, *earlier.get(migration.path.name, ())}:
                raise MigrationError(
                    f"{migration.path.name} changed after it was applied; add a new migration instead")
            continue
        _in_transaction(connection, migration.path.name, migration.sql,
                        (_INSERT_MIGRATION, {"v": migration.version, "n": migration.name, "c": migration.checksum}))
        names.append(migration.path.name)
    return names


def _apply_models(connection: Any, models: list[Model]) -> list[str]:
    done = applied_models(connection)
    names = []
    for model in models:
        if done.get(model.name) == model.checksum:
            continue
        _in_transaction(
            connection, f"models/{model.name}.sql", model.sql,
            ("INSERT INTO dw_schema_models (name, checksum) VALUES (:n, :c) ON CONFLICT (name)"
             " DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
             {"n": model.name, "c": model.checksum}),
        )
        names.append(f"models/{model.name}.sql")
    return names


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
