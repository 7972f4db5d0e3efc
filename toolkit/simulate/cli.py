"""``scripts/simulate_traffic.py``: plan traffic from a seed and deliver it (HTTP, S3 or a file)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .model import Planner, TrafficConfig, plan_window_text
from .send import FileSink, HttpSink, RetryPolicy, RichProgress, S3Sink, run

DEFAULT_SITE_URL = "http://127.0.0.1:8080/"


def estimate_events_per_session(config: TrafficConfig, window_s: float = 3600.0, sample: int = 300) -> float:
    """Mean events per session of this config's traffic mix within a live window of ``window_s``
    (visits still going at its end are cut off, so short windows hold fewer events per visit)."""
    window_s = max(window_s, 1.0)
    probe = TrafficConfig(**{**{f: getattr(config, f) for f in config.__slots__},
                             "days": 0.0, "live_seconds": window_s, "live_sessions_per_second": sample / window_s})
    sessions = list(Planner(probe).sessions())
    events = sum(len(s.events) for s in sessions)
    return events / len(sessions) if sessions else 10.0


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="simulate_traffic.py",
        description="Realistic shoppers of the demo storefront, deterministic from a seed, sent to an ingest "
                    "URL, written straight into the raw bucket, or to a file. See docs/simulator.md.",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="ingest endpoint, e.g. http://127.0.0.1:8080/clickstream")
    where.add_argument("--s3-bucket", help="write ingest-format objects into this bucket through the ingest "
                                            "Lambda's own code (honours AWS_ENDPOINT_URL); for backfills")
    where.add_argument("--output", help="write each request as an NDJSON line to this file ('-' = stdout)")
    where.add_argument("--dry-run", action="store_true", help="plan and count only")

    plan = p.add_argument_group("traffic")
    plan.add_argument("--seed", type=int, default=1, help="same seed, same traffic (default 1)")
    plan.add_argument("--days", type=float, default=0.0, help="days of history before --end (default 0)")
    plan.add_argument("--sessions-per-day", type=float, default=400.0,
                      help="history volume on an average weekday (default 400)")
    plan.add_argument("--duration", type=float, help="seconds of live traffic after --end "
                      "(default 60 when there is no history and no --sessions)")
    plan.add_argument("--sessions", type=int, help="number of live sessions (with --rate, sets the duration)")
    plan.add_argument("--rate", type=float, default=20.0, help="live traffic in events per second (default 20)")
    plan.add_argument("--end", type=_timestamp, help="the plan's anchor: end of history, start of live traffic "
                      "(ISO 8601, default now)")
    plan.add_argument("--bot-share", type=float, default=0.04, help="share of sessions by crawlers (default 0.04)")
    plan.add_argument("--return-share", type=float, default=0.3, help="share of returning visitors' sessions")
    plan.add_argument("--login-share", type=float, default=0.35,
                      help="chance that an account holder not yet logged in logs in during a session")
    plan.add_argument("--duplicate-share", type=float, default=0.01, help="share of batches sent twice")
    plan.add_argument("--late-share", type=float, default=0.02, help="share of batches held back and sent late")
    plan.add_argument("--max-late-hours", type=float, default=48.0, help="longest hold-back of a late batch")
    plan.add_argument("--skew-share", type=float, default=0.12, help="share of clients whose clock is off")
    plan.add_argument("--flush-seconds", type=float, default=3.0, help="the tracker's flush interval")
    plan.add_argument("--batching", choices=("page", "session"), default="page",
                      help="page: a request per page like the tracker (default); session: one per visit, "
                           "for faster backfills")
    plan.add_argument("--site-url", help="storefront origin in pageUrl (default: the --url origin, "
                      f"else {DEFAULT_SITE_URL})")
    plan.add_argument("--catalog", help="catalog JSON (default sql/oltp/demo_catalog.json)")

    send = p.add_argument_group("sending")
    send.add_argument("--max-rate", type=float, default=0.0, help="at most this many events/s (default: no cap)")
    send.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    send.add_argument("--gzip", action="store_true", help="gzip request bodies (Content-Encoding: gzip)")
    send.add_argument("--raw-gzip", action="store_true", help="S3 sink: gzip the stored objects (like RAW_GZIP)")
    send.add_argument("--origin", help="send this Origin header (the ingest checks it against its CORS allowlist)")
    send.add_argument("--max-attempts", type=int, default=6, help="tries per request on 429/5xx/network errors")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    send.add_argument("--no-progress", action="store_true", help="no progress bar")
    send.add_argument("--json", action="store_true", help="print the run's summary as JSON on stdout")
    return p


def config_from_args(args: argparse.Namespace) -> TrafficConfig:
    site = args.site_url
    if site is None and args.url:
        parts = urlsplit(args.url)
        site = f"{parts.scheme}://{parts.netloc}/"
    common = {
        "seed": args.seed, "end": args.end or datetime.now(UTC).replace(microsecond=0), "days": args.days,
        "sessions_per_day": args.sessions_per_day, "bot_share": args.bot_share, "return_share": args.return_share,
        "login_share": args.login_share, "duplicate_share": args.duplicate_share, "late_share": args.late_share,
        "max_late_seconds": args.max_late_hours * 3600, "skew_share": args.skew_share,
        "flush_seconds": args.flush_seconds, "batching": args.batching, "site_url": site or DEFAULT_SITE_URL,
        "catalog_path": args.catalog,
    }
    config = TrafficConfig(**common)
    duration, sessions = args.duration, args.sessions
    if duration is None and sessions is None and args.days == 0:
        duration = 60.0
    if duration is None and sessions is None:
        return config
    if duration is not None and sessions is not None:
        rate = sessions / duration if duration > 0 else 0.0
    elif sessions is not None:
        rate = args.rate / estimate_events_per_session(config)
        duration = sessions / rate if rate > 0 else 0.0
    else:
        # --rate is the average over the window, cut-off visits at its end included.
        rate = args.rate / estimate_events_per_session(config, duration)
    return TrafficConfig(**common, live_seconds=duration or 0.0, live_sessions_per_second=rate)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    planner = Planner(config)

    out_stream = None
    if args.url:
        sink = HttpSink(args.url, compress=args.gzip, timeout=args.timeout, origin=args.origin,
                        retry=RetryPolicy(args.max_attempts))
        target = args.url
    elif args.s3_bucket:
        sink = S3Sink(args.s3_bucket, gzip_objects=args.raw_gzip, retry=RetryPolicy(args.max_attempts))
        target = f"s3://{args.s3_bucket}"
    else:
        if not args.dry_run:
            out_stream = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        sink = FileSink(out_stream)
        target = "(dry run)" if args.dry_run else args.output
    info = sys.stderr
    print(f"simulate: seed {config.seed}, {plan_window_text(config)} -> {target}", file=info)
    if args.url and config.days > 0:
        print(f"simulate: history goes out now with past client timestamps; the ETL must accept events "
              f"up to {config.history_late_limit_hours} h old: ETL_LATE_LIMIT_HOURS>={config.history_late_limit_hours}"
              " (the ETL's default is 168)",
              file=info)
    if args.s3_bucket and config.days > 0:
        since = datetime.fromtimestamp(config.start_ts, UTC).strftime("%Y-%m-%dT%H:00:00Z")
        print(f"simulate: objects land in the hour partitions of their planned receive times; run the ETL over "
              f'them with {{"since": "{since}"}} (or ETL_LOOKBACK_HOURS>={math.ceil(config.days * 24) + 1})',
              file=info)
    progress = None
    if not args.no_progress and info.isatty():
        progress = RichProgress(config.end_ts - config.start_ts, stream=info)
    realtime = not (args.dry_run or args.output)
    # A file gets its lines in plan order: one writer, so the same seed gives the same bytes.
    concurrency = 1 if not realtime else args.concurrency
    try:
        stats = run(planner.batches(), sink, concurrency=concurrency, max_rate=args.max_rate or None,
                    realtime=realtime, progress=progress, origin_ts=config.start_ts)
    except KeyboardInterrupt:
        print("simulate: interrupted", file=info)
        return 130
    finally:
        if out_stream is not None and out_stream is not sys.stdout:
            out_stream.close()
    summary = {"seed": config.seed, "window": plan_window_text(config), "target": target,
               "etl_late_limit_hours": config.history_late_limit_hours if args.url else None,
               "etl_since": datetime.fromtimestamp(config.start_ts, UTC).isoformat() if args.s3_bucket else None,
               **stats.as_dict()}
    if args.json:
        print(json.dumps(summary, indent=2))
    print(f"simulate: {stats.events} events in {stats.batches} batches ({stats.duplicate_batches} duplicate, "
          f"{stats.late_batches} late) -> {stats.accepted} accepted, {stats.rejected} rejected, {stats.failed} failed, "
          f"{stats.retries} retries, {stats.elapsed_s:.1f}s ({summary['events_per_s']} events/s)", file=info)
    return 0 if stats.failed == 0 and stats.rejected == 0 else 1
