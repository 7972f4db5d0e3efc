#!/usr/bin/env python3
"""ETL throughput end to end, beside two loaders measured in the same run on the same rows.

    .venv/bin/python bench/bench_etl.py [--events 1000000] [--existing 5000000] [--incremental 10000]
                                        [--no-seed-style] [--no-s3]

1. ETL: the real pipeline (parse, normalize, COPY to staging, dedup merge, identity map,
   sessionization, every aggregate) over 100-event raw objects served from memory.
2. Floor: PostgreSQL COPY of the same final event rows into a table shaped like the events table.
3. Seed-style loader: JSON parse and multi-row INSERT of 200 rows at a time, no sessionization.
4. Incremental: a run of N new events on top of a warehouse that already holds --existing events.
S3 read time is measured separately against a moto server on loopback.

Beside the totals it prints where the ETL's time went: busy time per phase (the reader's
fetch and parse overlap the load steps, so phases add up to more than the wall time) and
the derive phase statement by statement.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lambdas"), str(REPO)]

from etl import derive as derive_module  # noqa: E402
from etl import load as load_module  # noqa: E402
from etl.db import PgTarget  # noqa: E402
from etl.pipeline import RunRequest, run  # noqa: E402
from etl.settings import Settings  # noqa: E402

from bench.etl_data import START, MemoryS3, RawObjects  # noqa: E402
from tests.support.pg import test_server  # noqa: E402
from toolkit.dw import migrate  # noqa: E402

SEED_COLUMNS = ("event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "identity_source",
                "client_id", "session_id", "is_first_visit", "product_id", "product_name", "product_category",
                "product_brand", "product_price", "product_discount_price", "product_url_path")
WINDOW = RunRequest(trigger="manual", since=START - timedelta(days=1), until=START + timedelta(days=400))


def fresh_warehouse(server, password: str) -> Settings:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = server.connect()
    admin.run(f'CREATE DATABASE "{name}"')
    admin.close()
    conn = server.connect(name)
    migrate.migrate(conn)
    # A login of its own: roles are cluster-wide and another run may be loading next door.
    writer = f"etl_bench_{name.removeprefix('bench_')}"
    migrate.ensure_login(conn, writer, password, migrate.WRITER_GROUP, name)
    conn.close()
    target = PgTarget(server.host, server.port, name, writer, password, sslmode="disable")
    return Settings(bucket="bench", target=target, late_limit=timedelta(days=3650))


def drop(server, settings: Settings) -> None:
    admin = server.connect()
    admin.run(f'DROP DATABASE IF EXISTS "{settings.target.database}" WITH (FORCE)')
    admin.run(f'DROP ROLE IF EXISTS "{settings.target.user}"')
    admin.close()


def load_memory_s3(events: int, seed: int, start=START) -> tuple[MemoryS3, float]:
    s3 = MemoryS3()
    t0 = time.perf_counter()
    for key, body, _ in RawObjects(seed, start).objects(events):
        s3.put(key, body)
    return s3, time.perf_counter() - t0


def copy_floor(server, settings: Settings) -> tuple[float, float]:
    """(seconds, PostgreSQL backend CPU seconds) of the COPY."""
    conn = TimedConnection(server.connect(settings.target.database))
    buf = io.BytesIO()
    conn.run("COPY (SELECT * FROM clickstream_events) TO STDOUT", stream=buf)
    conn.run("CREATE TABLE bench_copy (LIKE clickstream_events INCLUDING INDEXES)")
    buf.seek(0)
    t0, cpu0 = time.perf_counter(), conn.backend_cpu()
    conn.run("COPY bench_copy FROM STDIN", stream=buf)
    elapsed, cpu = time.perf_counter() - t0, conn.backend_cpu() - cpu0
    conn.run("DROP TABLE bench_copy")
    conn.close()
    return elapsed, cpu


def seed_style(server, settings: Settings, s3: MemoryS3) -> float:
    """The seed ETL's way: parse each line, map the seed's columns, INSERT 200 rows per statement."""
    conn = server.connect(settings.target.database)
    conn.run("CREATE TABLE bench_seed (event_id uuid PRIMARY KEY, event_timestamp timestamptz, event_name text,"
             " user_id text, user_login_state text, identity_source text, client_id text, session_id text,"
             " is_first_visit boolean, product_id text, product_name text, product_category text,"
             " product_brand text, product_price numeric, product_discount_price numeric, product_url_path text)")
    t0 = time.perf_counter()
    rows: list[tuple] = []

    def flush() -> None:
        params = {}
        values = []
        for i, row in enumerate(rows):
            values.append("(" + ", ".join(f":p{i}_{j}" for j in range(len(SEED_COLUMNS))) + ")")
            params.update({f"p{i}_{j}": v for j, v in enumerate(row)})
        conn.run(f"INSERT INTO bench_seed ({', '.join(SEED_COLUMNS)}) VALUES {', '.join(values)}"  # noqa: S608
                 " ON CONFLICT DO NOTHING", **params)
        rows.clear()

    for body in s3.objects.values():
        for line in body.splitlines():
            e = json.loads(line)
            p = e.get("product") or {}
            rows.append((e["_ingest"]["event_id"], e["clientTimestamp"], e["eventName"], e.get("userId"),
                         e.get("userLoginState"), None, e.get("clientId"), e.get("sessionId"), None, p.get("id"),
                         p.get("name"), p.get("category"), p.get("brand"), p.get("price"), p.get("discountPrice"),
                         None))
            if len(rows) == 200:
                flush()
    if rows:
        flush()
    elapsed = time.perf_counter() - t0
    conn.run("DROP TABLE bench_seed")
    conn.close()
    return elapsed


def s3_read_rate(objects: int) -> tuple[float, float]:
    """(objects/s, MB/s) reading through the ETL's own reader from a moto server on loopback."""
    import boto3
    from etl import source
    from etl.load import ObjectInfo

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(REPO / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto AWS_DEFAULT_REGION="eu-west-1",
                          AWS_ENDPOINT_URL=url)
        client = source.make_s3_client(16)
        boto3.client("s3").create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        size = 0
        for key, body, _ in RawObjects(3, START).objects(objects * 100):
            client.put_object(Bucket="bench", Key=key, Body=body)
            size += len(body)
        from concurrent.futures import ThreadPoolExecutor

        t0 = time.perf_counter()
        infos = list(source.list_objects(client, "bench", ["events/"]))
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: source.fetch(client, "bench", ObjectInfo(i.key, i.etag, i.size, None)), infos))
        elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(10)
        os.environ.pop("AWS_ENDPOINT_URL", None)
    return len(infos) / elapsed, size / elapsed / 1e6


def existing_warehouse(server, password: str, existing: int) -> Settings:
    """A warehouse that already holds ``existing`` events, loaded through the ETL in 1M-event steps."""
    settings = fresh_warehouse(server, password)
    done = 0
    step = 0
    while done < existing:
        n = min(1_000_000, existing - done)
        s3, _ = load_memory_s3(n, seed=100 + step, start=START + timedelta(days=20 * step))
        run(settings, WINDOW, s3=s3)
        done += n
        step += 1
        print(f"  ... {done:,} existing events loaded", flush=True)
    # Between half-hourly runs autovacuum has analyzed what the last runs loaded; right after a
    # bulk build it has not, and plans for the next run would rest on missing statistics.
    admin = server.connect(settings.target.database)
    try:
        admin.run("VACUUM ANALYZE")
    finally:
        admin.close()
    return settings


class TimedConnection:
    """Times each statement of a run, and the CPU its PostgreSQL backend spent on it.

    Statements are named after their constant in load.py or derive.py. The backend's CPU
    comes from its /proc stat (the benchmark's server is local): unlike wall time it hardly
    moves when other work shares the machine.
    """

    def __init__(self, connection, shared: TimedConnection | None = None) -> None:
        self._connection = connection
        # A second connection of the same run (the derive phase's) adds to the same figures.
        self.wall: dict[str, float] = shared.wall if shared else {}
        self.cpu: dict[str, float] = shared.cpu if shared else {}
        pid = connection.run("SELECT pg_backend_pid()")[0][0]
        stat = Path(f"/proc/{pid}/stat")
        self._stat = stat if stat.exists() else None
        self._tick = os.sysconf("SC_CLK_TCK")
        self._names = {value: f"{module.__name__.rsplit('.', 1)[-1]} {name.strip('_').lower()}"
                       for module in (load_module, derive_module) for name, value in vars(module).items()
                       if name.startswith("_") and name.isupper() and isinstance(value, str) and len(value) > 40}

    def backend_cpu(self) -> float:
        if self._stat is None:
            return 0.0
        fields = self._stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick

    def _name(self, sql: str) -> str:
        name = self._names.get(sql)
        if name is not None:
            return name
        text = sql.strip()
        if text.startswith("COPY etl_stage_copy ("):
            return "load copy"
        if text.startswith("COPY etl_stage_"):
            return "load copy rejects/objects"
        if text.startswith("SELECT dw_ensure_event_partitions"):
            return "load partitions"
        if text and len(text) > 40:
            found = next((n for body, n in self._names.items() if text in body), None)
            if found:
                return found
        return "other"

    def run(self, sql: str, **params):
        t0, c0 = time.perf_counter(), self.backend_cpu()
        try:
            return self._connection.run(sql, **params)
        finally:
            name = self._name(sql)
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - t0
            self.cpu[name] = self.cpu.get(name, 0.0) + self.backend_cpu() - c0

    def close(self) -> None:
        self._connection.close()


PHASES = (
    ("list", "S3 listing"),
    ("parse_start", "start parse worker processes"),
    ("fetch", "S3 fetch, waited for (reader thread)"),
    ("parse", "parse + normalize + COPY text (reader thread)"),
    ("load_wait", "loader idle, waiting for parsed batches"),
    ("copy", "COPY into staging"),
    ("dedup", "partitions + in-batch dedup"),
    ("merge", "registry lookup, replaced copies, merge into events"),
    ("stitch", "identity stitching"),
    ("ledger", "rejects + ledger"),
    ("commit", "commit"),
    ("derive", "derive: sessions, visitors, aggregates"),
)


def print_phases(summary, connection: TimedConnection, etl_s: float, python_cpu: float) -> None:
    print("where the ETL's time went (reader-thread phases overlap the loader's):")
    print(f"  {'phase':<48} {'wall s':>7} {'% of run':>9}")
    for key, label in PHASES:
        ms = getattr(summary, "phase_ms", {}).get(key)
        if ms is not None:
            print(f"  {label:<48} {ms / 1000:>7.1f} {ms / 10 / etl_s:>8.0f}%")
    print(f"  {'statement':<48} {'wall s':>7} {'PG CPU s':>9}")
    for name, secs in sorted(connection.wall.items(), key=lambda item: -item[1]):
        if secs >= 0.05:
            print(f"  {name:<48} {secs:>7.1f} {connection.cpu.get(name, 0.0):>9.1f}")
    phases = getattr(summary, "phase_ms", {})
    pooled = phases.get("parse_start") is not None
    parse_cpu = phases.get("parse_cpu", 0) / 1000
    print(f"  CPU seconds: PostgreSQL backend {sum(connection.cpu.values()):.1f}, ETL process {python_cpu:.1f}, "
          + (f"parse worker processes {parse_cpu:.1f}" if pooled else f"(parsing in-process: {parse_cpu:.1f})"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--existing", type=int, default=5_000_000, help="0 skips the incremental measurement")
    parser.add_argument("--incremental", type=int, default=10_000)
    parser.add_argument("--s3-objects", type=int, default=2_000, help="objects read from the moto server")
    parser.add_argument("--no-seed-style", action="store_true",
                        help="skip the slow seed-style loader (~16 min at 1M events) while iterating")
    parser.add_argument("--no-s3", action="store_true", help="skip the moto S3 read measurement")
    args = parser.parse_args()
    server = test_server()
    password = uuid.uuid4().hex

    s3, gen_s = load_memory_s3(args.events, seed=1)
    print(f"ETL benchmark: {args.events:,} events in {len(s3.objects):,} objects of 100 "
          f"(generated in {gen_s:.1f} s), PostgreSQL {server.host}:{server.port}, {os.cpu_count()} cores")
    settings = fresh_warehouse(server, password)
    try:
        connection = TimedConnection(settings.target.connect())
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            summary = run(settings, WINDOW, s3=s3, connection=connection,
                          connect=lambda: TimedConnection(settings.target.connect(), connection))
        finally:
            connection.close()
        etl_s, python_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert summary.status == "succeeded" and summary.events_loaded == args.events, summary
        floor_s, floor_cpu = copy_floor(server, settings)
        seed_s = None if args.no_seed_style else seed_style(server, settings, s3)
    finally:
        drop(server, settings)
    print(f"{'loader':<46} {'seconds':>9} {'events/s':>11} {'vs COPY floor':>14}")
    loaders = [(f"ETL end to end ({summary.sessions_touched:,} sessions, all tables)", etl_s),
               ("floor: COPY of the final event rows", floor_s)]
    if seed_s is not None:
        loaders.append(("seed-style: INSERT 200 rows/statement, no sessions", seed_s))
    for name, secs in loaders:
        print(f"{name:<46} {secs:>9.1f} {args.events / secs:>11,.0f} {floor_s / secs:>14.2f}")
    print_phases(summary, connection, etl_s, python_cpu)
    print(f"  (the floor's COPY: {floor_cpu:.1f} CPU seconds in its PostgreSQL backend)")

    if not args.no_s3:
        rate, mbps = s3_read_rate(args.s3_objects)
        print(f"S3 read (moto server on loopback, 16 threads): {rate:,.0f} objects/s, {mbps:.1f} MB/s "
              f"-> {args.events / 100 / rate:.1f} s for the {args.events // 100:,} objects above")

    if args.existing:
        print(f"incremental: building a warehouse with {args.existing:,} events ...", flush=True)
        base = existing_warehouse(server, password, args.existing)
        try:
            new, _ = load_memory_s3(args.incremental, seed=999, start=START + timedelta(days=20 * 6))
            connection = TimedConnection(base.target.connect())
            t0, cpu0 = time.perf_counter(), time.process_time()
            try:
                inc = run(replace(base), WINDOW, s3=new, connection=connection,
                          connect=lambda: TimedConnection(base.target.connect(), connection))
            finally:
                connection.close()
            inc_s, inc_cpu = time.perf_counter() - t0, time.process_time() - cpu0
            print(f"incremental run: {inc.events_loaded:,} new events on {args.existing:,} existing: {inc_s:.2f} s "
                  f"({inc.sessions_touched:,} sessions touched, {inc.objects_listed:,} objects listed)")
            print_phases(inc, connection, inc_s, inc_cpu)
        finally:
            drop(server, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
