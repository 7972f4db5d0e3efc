from __future__ import annotations

import secrets
import uuid
from contextlib import contextmanager
from dataclasses import replace

import boto3
import pytest
from etl.db import PgTarget
from etl.settings import Settings
from moto import mock_aws

from toolkit.dw import migrate

BUCKET = "clickstream-raw-etl-test"


@pytest.fixture(scope="session")
def dw_template(pg_server):
    """A migrated warehouse to copy (CREATE DATABASE ... TEMPLATE is much faster than migrating)."""
    name = f"etl_tmpl_{uuid.uuid4().hex[:10]}"
    # Roles are cluster-wide and test sessions may run side by side: each gets its own login.
    writer = f"etl_writer_{uuid.uuid4().hex[:10]}"
    password = secrets.token_hex(16)
    admin = pg_server.connect()
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    conn = pg_server.connect(name)
    migrate.migrate(conn)
    migrate.ensure_login(conn, writer, password, migrate.WRITER_GROUP, name)
    conn.close()
    yield name, writer, password
    admin = pg_server.connect()
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.run(f'DROP ROLE IF EXISTS "{writer}"')
    admin.close()


@pytest.fixture
def new_warehouse(pg_server, dw_template):
    """Factory of empty warehouses (as copies of the template), dropped at the end of the test."""
    template, writer, password = dw_template
    created = []

    def make() -> Settings:
        name = f"etl_{uuid.uuid4().hex[:12]}"
        admin = pg_server.connect()
        admin.run(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        admin.close()
        created.append(name)
        target = PgTarget(host=pg_server.host, port=pg_server.port, database=name, user=writer,
                          password=password, sslmode="disable")
        return Settings(bucket=BUCKET, target=target, read_workers=4)

    yield make
    admin = pg_server.connect()
    for name in created:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def warehouse(new_warehouse) -> Settings:
    return new_warehouse()


@pytest.fixture
def raw_s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


@contextmanager
def connected(settings: Settings):
    conn = settings.target.connect()
    try:
        yield conn
    finally:
        conn.close()


def with_batches(settings: Settings, objects: int) -> Settings:
    return replace(settings, batch_objects=objects)
