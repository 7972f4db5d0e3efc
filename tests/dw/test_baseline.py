"""sql/dw/baseline.sql leaves the schema the numbered chain of sql/dw/history/ leaves.

An empty database gets the baseline (then any later history file, then the models); an existing
one upgrades through history/. The two paths must not drift apart, so each test builds
databases both ways and compares their ``pg_dump --schema-only --create``: tables and their
column order, constraints, indexes, storage options, views, functions, privileges, the
database's own grants. Every database is owned and migrated by one non-superuser owner, as on
the DW host, so that the dumps' owners agree too.
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from toolkit.dw import migrate

pytestmark = pytest.mark.postgres

PG_DUMP = Path("/usr/lib/postgresql/15/bin/pg_dump")
# A database that stopped here, before the models existed: the chain's later ALTERs (the
# events' key, dropped keys and columns, appended columns) and the models then run on it.
MIDDLE = 20
# pg_dump 15.14 and later bracket a plain dump with a random key: \restrict KEY ... \unrestrict KEY.
_RESTRICT = re.compile(r"^\\(un)?restrict \S+$")


@pytest.fixture(scope="module")
def owner(pg_server):
    """A CREATEROLE (not superuser) login, like the DW host's admin role; it owns every database here."""
    name, password = f"dw_owner_{uuid.uuid4().hex[:8]}", secrets.token_hex(12)
    admin = pg_server.connect()
    admin.run(f"CREATE ROLE {name} LOGIN CREATEROLE PASSWORD '{password}'")
    admin.close()
    yield name, password
    admin = pg_server.connect()
    admin.run(f"DROP OWNED BY {name}")
    admin.run(f"DROP ROLE IF EXISTS {name}")
    admin.close()


@pytest.fixture
def new_database(pg_server, owner):
    """Makes empty databases owned by ``owner`` (hll created by the superuser, as roles/dw does);
    returns (name, the owner's connection)."""
    made: list[tuple[str, object]] = []

    def make() -> tuple[str, object]:
        name = f"dw_{uuid.uuid4().hex[:10]}"
        admin = pg_server.connect()
        admin.run(f'CREATE DATABASE "{name}" OWNER {owner[0]}')
        admin.close()
        admin = pg_server.connect(name)
        admin.run("CREATE EXTENSION IF NOT EXISTS hll")  # not trusted: the host's superuser creates it
        admin.close()
        connection = pg_server.connect(name, user=owner[0], password=owner[1])
        made.append((name, connection))
        return name, connection

    yield make
    admin = pg_server.connect()
    for name, connection in made:
        connection.close()
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def schema_dump(pg_server, database: str) -> str:
    """The database's schema as pg_dump writes it, with its name and pg_dump's random key taken out."""
    if not os.access(PG_DUMP, os.X_OK):
        pytest.skip(f"{PG_DUMP} is missing (the PostgreSQL 15 client binaries)")
    out = subprocess.run(
        [str(PG_DUMP), "--schema-only", "--create", "--host", pg_server.host, "--port", str(pg_server.port),
         "--username", pg_server.user, "--no-password", database],
        env={**os.environ, "PGPASSWORD": pg_server.password}, check=True, capture_output=True, text=True,
    ).stdout
    lines = [line for line in out.splitlines() if not _RESTRICT.match(line)]
    return re.sub(rf"\b{re.escape(database)}\b", "<database>", "\n".join(lines) + "\n")


def assert_same_schema(expected: str, actual: str, expected_name: str, actual_name: str) -> None:
    if expected != actual:
        diff = difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                    fromfile=expected_name, tofile=actual_name)
        pytest.fail(f"pg_dump differs between {expected_name} and {actual_name}:\n{''.join(diff)}", pytrace=False)


def chain_tree(tmp_path: Path, up_to: int | None = None, models: bool = True) -> Path:
    """A copy of sql/dw without baseline.sql: history/ (up to a version), and the models or not."""
    root = tmp_path / f"chain_{up_to or 'all'}"
    shutil.copytree(migrate.SQL_DIR, root)
    (root / "baseline.sql").unlink(missing_ok=True)
    if up_to is not None:
        for migration in migrate.discover(root):
            if migration.version > up_to:
                migration.path.unlink()
    if not models:
        shutil.rmtree(root / "models")
    return root


def bookkeeping(connection) -> tuple[list, list]:
    migrations = sorted(connection.run("SELECT version, name, checksum FROM dw_schema_migrations"))
    models = sorted(connection.run("SELECT name, checksum FROM dw_schema_models"))
    return migrations, models


def model_names() -> list[str]:
    return [f"models/{m.name}.sql" for m in migrate.discover_models()]


def test_the_baseline_defines_no_function_a_model_defines():
    """One definition of each: the models create their functions on both paths."""
    baseline = (migrate.SQL_DIR / "baseline.sql").read_text(encoding="utf-8")
    defined = re.compile(r"^CREATE (?:OR REPLACE )?FUNCTION (\w+)", re.MULTILINE | re.IGNORECASE)
    in_models = {name for m in migrate.discover_models() for name in defined.findall(m.sql)}
    assert in_models and defined.findall(baseline)
    assert not in_models & set(defined.findall(baseline))


def test_the_baseline_and_the_chain_leave_the_same_database(pg_server, new_database, tmp_path):
    covers = migrate.baseline_covers()
    assert covers is not None and covers.start == 1
    chain = migrate.discover()
    later = [m.path.name for m in chain if m.version not in covers]  # history written after the baseline

    a_name, a = new_database()
    assert migrate.migrate(a) == [f"baseline.sql ({covers.start:04d}-{covers.stop - 1:04d})", *later, *model_names()]

    root = chain_tree(tmp_path)
    b_name, b = new_database()
    assert migrate.migrate(b, root) == [m.path.name for m in chain] + model_names()

    assert_same_schema(schema_dump(pg_server, b_name), schema_dump(pg_server, a_name),
                       "through history/ (chain)", "through baseline.sql")

    # The baseline records the covered versions with the history files' checksums, so that a
    # changed history file is refused on either database, and the same models.
    assert bookkeeping(a) == bookkeeping(b)
    migrations, models = bookkeeping(a)
    assert migrations == [[m.version, m.name, m.checksum] for m in chain]
    assert models == sorted([m.name, m.checksum] for m in migrate.discover_models())

    assert migrate.migrate(a) == []
    assert migrate.migrate(b, root) == []


def test_a_database_half_way_up_the_chain_ends_where_the_baseline_does(pg_server, new_database, tmp_path):
    a_name, a = new_database()
    migrate.migrate(a)

    c_name, c = new_database()
    applied = migrate.migrate(c, chain_tree(tmp_path, up_to=MIDDLE, models=False))
    assert applied[-1] == next(m.path.name for m in migrate.discover() if m.version == MIDDLE)
    # Now with sql/dw as it is: the baseline is passed over (the database has its history),
    # the rest of the chain and the models are applied.
    rest = migrate.migrate(c)
    assert rest == [m.path.name for m in migrate.discover() if m.version > MIDDLE] + model_names()

    assert_same_schema(schema_dump(pg_server, a_name), schema_dump(pg_server, c_name),
                       "through baseline.sql", f"through history/ up to {MIDDLE:04d}, then the rest")
    assert bookkeeping(c) == bookkeeping(a)
    assert migrate.migrate(c) == []
