"""The test PostgreSQL cluster (scripts/pg_test_cluster.sh) and throwaway databases on it."""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pg8000.native

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str

    def connect(self, database: str = "postgres", user: str | None = None, password: str | None = None):
        return pg8000.native.Connection(
            user or self.user, host=self.host, port=self.port, database=database,
            password=password if user else self.password,
        )


def test_server() -> PgServer:
    """The cluster named by CLICKSTREAM_TEST_PG_* (scripts/test.sh exports them); started here when absent."""
    if "CLICKSTREAM_TEST_PG_PORT" not in os.environ:
        out = subprocess.run([str(REPO / "scripts/pg_test_cluster.sh"), "start"], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            os.environ[name] = value
    password = Path(os.environ["CLICKSTREAM_TEST_PG_PASSWORD_FILE"]).read_text().strip()
    return PgServer(
        host=os.environ.get("CLICKSTREAM_TEST_PG_HOST", "127.0.0.1"),
        port=int(os.environ["CLICKSTREAM_TEST_PG_PORT"]),
        user=os.environ.get("CLICKSTREAM_TEST_PG_USER", "postgres"),
        password=password,
    )


@contextmanager
def scratch_database(server: PgServer, prefix: str = "t"):
    """A new empty database, dropped (with its connections) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = server.connect()
    try:
        admin.run(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def dict_rows(connection, sql: str, **params) -> list[dict]:
    """A query's rows as dicts by column name."""
    found = connection.run(sql, **params)
    names = [c["name"] for c in connection.columns]
    return [dict(zip(names, row, strict=True)) for row in found]
