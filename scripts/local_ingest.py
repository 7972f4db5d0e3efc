#!/usr/bin/env python3
"""Serve the ingest Lambda locally behind an API Gateway (payload 2.0) stand-in.

    RAW_BUCKET_NAME=clickstream-raw AWS_ENDPOINT_URL=http://127.0.0.1:4566 \\
        scripts/local_ingest.py --port 8080 --static-dir storefront --create-bucket

S3 is whatever AWS_ENDPOINT_URL names (a moto server locally), or AWS itself when unset.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lambdas"), str(REPO)]

from toolkit.local.http_adapter import make_server  # noqa: E402


def ensure_bucket(bucket: str) -> None:
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        region = s3.meta.region_name
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--static-dir", help="also serve this folder's files on GET (the demo storefront)")
    parser.add_argument("--create-bucket", action="store_true", help="create RAW_BUCKET_NAME when missing")
    args = parser.parse_args(argv)

    if not os.environ.get("RAW_BUCKET_NAME"):
        parser.error("RAW_BUCKET_NAME must be set")
    if args.create_bucket:
        ensure_bucket(os.environ["RAW_BUCKET_NAME"])

    from ingest.handler import handler

    server = make_server(handler, args.host, args.port, static_dir=args.static_dir)
    where = f"http://{args.host}:{server.server_address[1]}"
    print(f"ingest listening on {where}/clickstream -> s3://{os.environ['RAW_BUCKET_NAME']}"
          f" via {os.environ.get('AWS_ENDPOINT_URL', 'AWS')}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
