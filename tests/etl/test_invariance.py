"""Batch invariance: the same raw events, split into runs in any order, give identical tables."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from etl.pipeline import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest.storage import encode_lines

from tests.etl.conftest import BUCKET, connected
from tests.etl.streams import WINDOW, event_streams
from tests.support.raw import snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

_counter = itertools.count()


def as_objects(deliveries, sizes):
    """Pack deliveries into raw objects of the given sizes, keyed under their receive hour."""
    objects = []
    rest = list(deliveries)
    for size in itertools.cycle(sizes):
        if not rest:
            break
        chunk, rest = rest[:size], rest[size:]
        received = max(d.received for d in chunk)
        key = f"events/{received:%Y/%m/%d/%H}/{next(_counter):08d}.ndjson"
        objects.append((key, encode_lines([d.record for d in chunk], False)))
    return objects


def fresh_bucket(s3) -> str:
    name = f"{BUCKET}-{next(_counter)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(deliveries=event_streams(), sizes=st.lists(st.integers(1, 8), min_size=1, max_size=4),
       order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 40), max_size=5),
       two_connections=st.booleans())
def test_any_split_and_order_gives_identical_tables(raw_s3, new_warehouse, deliveries, sizes, order, cuts,
                                                    two_connections):
    objects = as_objects(deliveries, sizes)
    at_once = replace(new_warehouse(), bucket=fresh_bucket(raw_s3))
    for key, body in objects:
        raw_s3.put_object(Bucket=at_once.bucket, Key=key, Body=body)
    run(at_once, WINDOW, s3=raw_s3)

    # The same objects arrive shuffled, a few at a time, each arrival followed by a run; the
    # derive phase on one connection or split over two.
    spread = replace(new_warehouse(), bucket=fresh_bucket(raw_s3),
                     derive_parallel_min_groups=0 if two_connections else 10**9)
    bucket = spread.bucket
    shuffled = list(objects)
    order.shuffle(shuffled)
    bounds = sorted({min(c, len(shuffled)) for c in cuts} | {len(shuffled)})
    start = 0
    for end in bounds:
        for key, body in shuffled[start:end]:
            raw_s3.put_object(Bucket=bucket, Key=key, Body=body)
        run(spread, WINDOW, s3=raw_s3)
        start = end

    with connected(at_once) as a, connected(spread) as b:
        expected, got = snapshot(a), snapshot(b)
    assert got == expected
    assert expected["pending"] == [[0]] and expected["repeated_transition_keys"] == [[0]]
    assert sum(1 for _ in expected["events"]) == len({d.record["_ingest"]["event_id"] for d in deliveries})


@settings(max_examples=200, deadline=None)
@given(deliveries=event_streams())
def test_generated_streams_fit_the_run_window(deliveries):
    # Objects outside the window are never listed; a stream reaching past it once made the
    # batch-invariance test count "lost" events that were only out of range.
    assert all(WINDOW.since <= d.received < WINDOW.until for d in deliveries)
