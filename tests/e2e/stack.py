"""The local platform the end-to-end test runs against, every piece on a free loopback port:
moto_server as S3, the ingest Lambda behind its local HTTP adapter (scripts/local_ingest.py),
the storefront on a separate static origin (so the tracker's requests are cross-origin and the
ingest's CORS is exercised), and a migrated scratch warehouse with an ETL writer login and the
dashboards' read-only login."""

from __future__ import annotations

import contextlib
import gzip
import html
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.shiny.demo import Reader, drop_reader, migrate_with_reader
from tests.support.local import free_port
from tests.support.pg import scratch_database
from toolkit.dw import migrate

REPO = Path(__file__).resolve().parents[2]
STOREFRONT = REPO / "storefront"
REGION = "eu-west-1"
BUCKET = "clickstream-raw-e2e"
# What every page of the shop carries; a deployment points it at the API (see js/shop.js).
ENDPOINT_META = '<meta name="clickstream-endpoint" content="/clickstream">'


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


@contextlib.contextmanager
def service(name: str, command: list[str], env: dict[str, str], log: Path, ready: Callable[[], bool],
            timeout: float = 30.0) -> Iterator[subprocess.Popen]:
    """Run `command` (its own process group, output to `log`) until the block ends; wait for `ready`."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} was not ready after {timeout:.0f} s:\n{_tail(log)}")
            time.sleep(0.1)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    # The group is this process's own (start_new_session): children such as werkzeug's go too.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def aws_env(endpoint: str) -> dict[str, str]:
    """Fake credentials for moto: nothing here can reach a real AWS account."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DW_PG_"))}
    env.pop("CORS_ALLOWED_ORIGINS", None)
    env.update(extra)
    return env


@contextlib.contextmanager
def moto_s3(log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with service("moto_server", [str(REPO / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                 child_env(), log, partial(_http_ok, url + "/moto-api/")):
        yield url


@contextlib.contextmanager
def ingest(s3_url: str, allowed_origin: str, log: Path) -> Iterator[str]:
    """scripts/local_ingest.py --create-bucket; yields the /clickstream URL."""
    port = free_port()
    env = child_env(**aws_env(s3_url), RAW_BUCKET_NAME=BUCKET, CORS_ALLOWED_ORIGINS=allowed_origin)
    command = [sys.executable, str(REPO / "scripts/local_ingest.py"), "--host", "127.0.0.1", "--port", str(port),
               "--create-bucket"]
    # The adapter prints its banner once the bucket exists and the socket is bound.
    with service("the ingest adapter", command, env, log, lambda: "ingest listening" in _tail(log)):
        yield f"http://127.0.0.1:{port}/clickstream"


class EndpointPages(SimpleHTTPRequestHandler):
    """Static files, never cached, whose HTML pages name the API in their endpoint meta tag:
    what a deployment does, the server writes in the endpoint a test gives (class attribute)."""

    endpoint = "/clickstream"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("cache-control", "no-store")
        super().end_headers()

    def send_page(self, path: Path):
        """``path`` (an HTML page) with the endpoint written in."""
        page = path.read_text(encoding="utf-8")
        if ENDPOINT_META not in page:
            self.send_error(500, f"{path.name} has no {ENDPOINT_META}: the site changed how it is configured")
            return None
        meta = f'<meta name="clickstream-endpoint" content="{html.escape(self.endpoint, quote=True)}">'
        body = page.replace(ENDPOINT_META, meta).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


class _StorefrontHandler(EndpointPages):
    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        return self.send_page(path)


@contextlib.contextmanager
def static_site(port: int, handler: type[EndpointPages], directory: Path, endpoint: str) -> Iterator[str]:
    """``directory`` served by ``handler`` on 127.0.0.1:`port`, its pages pointing at ``endpoint``;
    yields the origin."""
    named = type(handler.__name__, (handler,), {"endpoint": endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(named, directory=str(directory)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"site-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def storefront(port: int, endpoint: str):
    """storefront/ over python's http.server on 127.0.0.1:`port`, its pages pointing at `endpoint`."""
    return static_site(port, _StorefrontHandler, STOREFRONT, endpoint)


@dataclass(frozen=True)
class Warehouse:
    server: Any  # tests.support.pg.PgServer (admin)
    database: str
    writer: str
    writer_password_file: Path
    reader: Reader

    def admin(self):
        return self.server.connect(self.database)

    def etl_env(self, s3_url: str) -> dict[str, str]:
        return {**aws_env(s3_url), "RAW_BUCKET_NAME": BUCKET, "DW_PG_HOST": self.server.host,
                "DW_PG_PORT": str(self.server.port), "DW_PG_DATABASE": self.database, "DW_PG_USER": self.writer,
                "DW_PG_PASSWORD_FILE": str(self.writer_password_file), "DW_PG_SSL": "false"}


@contextlib.contextmanager
def warehouse(pg_server, secrets_dir: Path) -> Iterator[Warehouse]:
    """A scratch database migrated by scripts/migrate_dw.py, with its own writer and reader logins."""
    writer = f"e2e_writer_{secrets.token_hex(5)}"
    password_file = secrets_dir / "writer.pw"
    password_file.write_text(secrets.token_hex(16))
    password_file.chmod(0o600)
    readers: list[Reader] = []
    try:
        with scratch_database(pg_server, prefix="e2e") as name:
            readers.append(migrate_with_reader(pg_server, name))
            conn = pg_server.connect(name)
            try:
                migrate.ensure_login(conn, writer, password_file.read_text(), migrate.WRITER_GROUP, name)
            finally:
                conn.close()
            yield Warehouse(pg_server, name, writer, password_file, readers[0])
    finally:
        # Logins can only go once the database they may connect to is gone.
        for reader in readers:
            drop_reader(pg_server, reader)
        admin = pg_server.connect()
        try:
            (stmt,) = admin.run("SELECT format('DROP ROLE IF EXISTS %I', CAST(:u AS text))", u=writer)[0]
            admin.run(stmt)
        finally:
            admin.close()


def run_etl(wh: Warehouse, s3_url: str, workdir: Path, timeout: float = 90.0) -> dict[str, Any]:
    """scripts/invoke_etl.py --local --env-file, as the local platform's timer runs it; its summary."""
    env_file = workdir / "etl.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in wh.etl_env(s3_url).items()))
    env_file.chmod(0o600)
    command = [sys.executable, str(REPO / "scripts/invoke_etl.py"), "--local", "--env-file", str(env_file),
               "--no-progress"]
    try:
        done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"the ETL did not finish within {timeout:.0f} s: {exc.stderr}") from None
    if done.returncode != 0:
        raise AssertionError(f"the ETL exited with {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def raw_events(s3, prefix: str = "events/") -> list[dict[str, Any]]:
    """Every record under `prefix` in the raw bucket (plain or gzipped NDJSON)."""
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            if item["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            records.extend(json.loads(line) for line in body.decode().splitlines() if line.strip())
    return records
