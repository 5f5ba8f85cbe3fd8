"""The test kit users get (motion_pg.testing): fit_pending and the version assertions."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from motion_pg.errors import UnknownTrigger
from motion_pg.executor import execute
from motion_pg.testing import FitFailed, assert_version, fit_pending, serving_version, versions

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int, seen_version int)"
)


def _counter(conn: psycopg.Connection[Any], cls: str = "Counter") -> None:
    execute(
        conn,
        f"{ITEMS}; CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:{cls}'",
    )


def test_fit_pending_fits_what_is_committed(conn: psycopg.Connection[Any]) -> None:
    _counter(conn)
    assert serving_version(conn, "counter") == 1
    conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    assert fit_pending(conn, "counter") == 1
    assert_version(conn, "counter", 2)
    assert versions(conn, "counter") == [1, 2]
    assert fit_pending(conn) == 0  # nothing left


def test_assert_version_says_what_is_pending(conn: psycopg.Connection[Any]) -> None:
    _counter(conn)
    conn.execute("INSERT INTO items (value) VALUES (1)")
    with pytest.raises(AssertionError, match=r"serves version 1, expected 2; versions \[1\]"
                       r".*pending.*fit_pending"):  # fmt: skip
        assert_version(conn, "counter", 2)


def test_fit_pending_raises_the_fit_error(conn: psycopg.Connection[Any]) -> None:
    _counter(conn, "FitFails")
    conn.execute("INSERT INTO items (value) VALUES (1)")
    with pytest.raises(FitFailed, match="counter: "):
        fit_pending(conn, "counter")
    assert_version(conn, "counter", 1)


def test_fit_pending_refuses_an_open_transaction_and_an_unknown_trigger(
    conn: psycopg.Connection[Any],
) -> None:
    _counter(conn)
    with pytest.raises(UnknownTrigger, match="'nope' does not exist"):
        fit_pending(conn, "nope")
    with conn.transaction(), pytest.raises(RuntimeError, match="inside a transaction; commit"):
        fit_pending(conn)
