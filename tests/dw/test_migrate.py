"""Warehouse migrations and logins, run the way the dw role runs them: as a non-superuser owner."""

from __future__ import annotations

import secrets
import shutil
import uuid

import pg8000.native
import pytest

from toolkit.dw import migrate

pytestmark = pytest.mark.postgres


@pytest.fixture
def owned_db(pg_server):
    """A database owned by a CREATEROLE (not superuser) login, like the DW host's admin role."""
    owner, password = f"dw_owner_{uuid.uuid4().hex[:8]}", secrets.token_hex(12)
    name = f"dw_{uuid.uuid4().hex[:10]}"
    admin = pg_server.connect()
    admin.run(f"CREATE ROLE {owner} LOGIN CREATEROLE PASSWORD '{password}'")
    admin.run(f'CREATE DATABASE "{name}" OWNER {owner}')
    admin.close()
    # hll is not a trusted extension: the host's superuser creates it, as roles/dw does.
    admin = pg_server.connect(name)
    admin.run("CREATE EXTENSION IF NOT EXISTS hll")
    admin.close()
    yield name, owner, password
    admin = pg_server.connect()
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.run(f"DROP OWNED BY {owner}")
    admin.run(f"DROP ROLE IF EXISTS {owner}")
    admin.close()


def test_migrate_twice_and_rotate_logins_as_owner(pg_server, owned_db):
    name, owner, password = owned_db
    conn = pg_server.connect(name, user=owner, password=password)
    first = migrate.migrate(conn)
    # An empty database gets the baseline, not the chain, and then the models.
    models = [f"models/{m.name}.sql" for m in migrate.discover_models()]
    assert first[0] == "baseline.sql (0001-0033)" and first[-len(models):] == models
    assert migrate.migrate(conn) == []
    writer, reader = f"etl_{uuid.uuid4().hex[:8]}", f"rd_{uuid.uuid4().hex[:8]}"
    try:
        assert migrate.ensure_login(conn, writer, "first-pass", migrate.WRITER_GROUP, name) == "created"
        # the second deploy rotates the password: this ALTER failed before as a non-superuser
        assert migrate.ensure_login(conn, writer, "second-pass", migrate.WRITER_GROUP, name) == "updated"
        migrate.ensure_login(conn, reader, "reader-pass", migrate.READER_GROUP, name)
        w = pg_server.connect(name, user=writer, password="second-pass")
        w.run("CREATE TEMP TABLE scratch (x int)")  # staging needs TEMPORARY
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            w.run("CREATE TABLE not_allowed (x int)")
        w.close()
        r = pg_server.connect(name, user=reader, password="reader-pass")
        assert r.run("SELECT count(*) FROM agg_daily_funnel") == [[0]]
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            r.run("INSERT INTO etl_pending_groups VALUES ('x')")
        r.close()
    finally:
        conn.close()
        admin = pg_server.connect()
        for role in (writer, reader):
            if admin.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=role):
                admin.run(f'DROP OWNED BY "{role}"')
                admin.run(f'DROP ROLE "{role}"')
        admin.close()


def test_a_changed_applied_migration_is_refused(pg_server, scratch_db, tmp_path):
    shutil.copytree(migrate.SQL_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "baseline.sql").unlink(missing_ok=True)  # through the chain, to edit a file it ran
    conn = pg_server.connect(scratch_db)
    migrate.migrate(conn, tmp_path)
    (tmp_path / "history" / "0005_agg_hourly_activity.sql").write_text("-- edited after it was applied\n")
    with pytest.raises(migrate.MigrationError, match=r"0005_agg_hourly_activity\.sql changed after it was applied"):
        migrate.migrate(conn, tmp_path)
    conn.close()
