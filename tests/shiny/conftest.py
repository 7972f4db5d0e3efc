from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.shiny.app import running_app
from tests.shiny.cdp import Browser, chromium_path
from tests.shiny.demo import app_environment, drop_reader, load_demo, migrate_with_reader


def _require_tools() -> None:
    if shutil.which("R") is None:
        pytest.skip("R is not installed (scripts/bootstrap.sh installs it)")
    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def _warehouse(pg_server, request):
    from tests.support.pg import scratch_database

    readers = []
    try:
        with scratch_database(pg_server, prefix="shiny") as name:
            readers.append(migrate_with_reader(pg_server, name))
            yield pg_server, name, readers[0]
    finally:
        # The login can only go once the database it may connect to is gone.
        for reader in readers:
            drop_reader(pg_server, reader)


@pytest.fixture(scope="module")
def demo_app(_warehouse, tmp_path_factory):
    """The app against a warehouse holding 60 days of demo data."""
    _require_tools()
    server, name, reader = _warehouse
    counts = load_demo(server, name, days=60, sessions_per_day=150)
    log = tmp_path_factory.mktemp("shiny-demo") / "app.log"
    with running_app(app_environment(reader), log) as url:
        yield {"url": url, "server": server, "database": name, "counts": counts, "log": log}


@pytest.fixture(scope="module")
def empty_app(pg_server, tmp_path_factory):
    """The app against a freshly migrated, empty warehouse."""
    _require_tools()
    from tests.support.pg import scratch_database

    readers = []
    log = tmp_path_factory.mktemp("shiny-empty") / "app.log"
    try:
        with scratch_database(pg_server, prefix="shiny") as name:
            readers.append(migrate_with_reader(pg_server, name))
            with running_app(app_environment(readers[0]), log) as url:
                yield {"url": url, "log": log}
    finally:
        for reader in readers:
            drop_reader(pg_server, reader)


@pytest.fixture(scope="module")
def browser():
    _require_tools()
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    """Where screenshots go: SHINY_SCREENSHOT_DIR when set (e.g. to refresh docs/img), else a temp dir."""
    wanted = os.environ.get("SHINY_SCREENSHOT_DIR")
    if wanted:
        path = Path(wanted)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
