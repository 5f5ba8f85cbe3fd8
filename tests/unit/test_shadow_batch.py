"""The pure parts of set-based shadow records and the salted canary split."""

from __future__ import annotations

import json
from types import SimpleNamespace

from motion_pg.runtime import shadow_batch
from motion_pg.runtime.experiments import BUCKETS, bucket, in_canary


def test_salted_buckets_are_stable_spread_and_unlike_the_public_hash() -> None:
    keys = [{"id": i} for i in range(2000)]
    salted = [bucket(k, "s3cret") for k in keys]
    assert salted == [bucket(k, "s3cret") for k in keys]  # the same in every backend
    assert all(0 <= b < BUCKETS for b in salted)
    assert salted != [bucket(k) for k in keys] and salted != [bucket(k, "other") for k in keys]
    share = sum(in_canary(k, 10, "s3cret") for k in keys) / len(keys)
    assert 0.07 < share < 0.13
    # keys the public hash puts in the canary are spread like any others under the salt
    chosen = [k for k in keys if in_canary(k, 10)]
    assert sum(in_canary(k, 10, "s3cret") for k in chosen) < len(chosen) / 3


def test_rows_are_buffered_only_inside_an_open_statement_on_the_route_relation() -> None:
    route = SimpleNamespace(info=SimpleNamespace(ordinal=0, relation="public.t"), relid="42")
    record = ({"id": 1}, {"v": 1}, False, 0.001, None)
    assert not shadow_batch.add("t", route, "42", record)  # no statement opened the buffer
    shadow_batch.statement(None, {"when": "BEFORE", "args": ["t", "0"]})
    assert not shadow_batch.add("t", route, "43", record)  # a partition's row: written at once
    assert shadow_batch.add("t", route, "42", record)
    shadow_batch.statement(None, {"when": "BEFORE", "args": ["t", "0"]})  # a failed statement's
    assert shadow_batch._open[("t", 0)] == []  # records are dropped by the next one
    shadow_batch._open.clear()


def test_records_dump_plain_values_directly_and_others_as_json_can_hold_them() -> None:
    assert json.loads(shadow_batch.dumps([[{"id": 1}, {"v": 1.5}, True, 0.1, None]])) == [
        [{"id": 1}, {"v": 1.5}, True, 0.1, None]
    ]
    assert json.loads(shadow_batch.dumps([{"v": float("nan"), "b": b"\x01"}])) == [
        {"v": None, "b": "01"}
    ]
