from __future__ import annotations

import os

import pytest

# Tests talk to moto or to stubs, never to a real AWS account.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def pg_server():
    from tests.support.pg import test_server

    return test_server()


@pytest.fixture
def scratch_db(pg_server):
    from tests.support.pg import scratch_database

    with scratch_database(pg_server) as name:
        yield name
