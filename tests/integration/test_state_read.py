"""The read side of state versions (issue 15 goal 6, the serve path): a reader that already holds a
trigger's previous version reads a new version of a small state in one query, gets only the values
that changed, and still reads a large value on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

import motion_pg
from motion_pg.pg import PgDatabase
from motion_pg.runtime.state import INLINE_BYTES, BlobCache, write_version
from motion_pg.settings import Settings

CREATE = "CREATE MOTION TRIGGER counted ON events USING 'motion_test_apps.basic:Counter'"
SETUP = {"count": 0, "ids": [], "factor": 2}  # Counter's setup


class Counted(PgDatabase):
    """The real database, with the statements a reader sends counted."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__(conn)
        self.sent: list[str] = []

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.sent.append(sql)
        return super().query(sql, params)


def _version(conn: psycopg.Connection[Any], updates: dict[str, Any], parent: int) -> int:
    with conn.transaction():
        return write_version(PgDatabase(conn), "counted", updates, source="fit", parent=parent,
                             params={}, settings=Settings())  # fmt: skip


def _setup(conn: psycopg.Connection[Any]) -> int:
    conn.execute("CREATE TABLE events (id serial PRIMARY KEY, value int NOT NULL, doubled int, "
                 "seen_version int)")  # fmt: skip
    motion_pg.execute(conn, CREATE)
    row = conn.execute("SELECT serving_version FROM motion.triggers WHERE name = 'counted'")
    first = row.fetchone()
    assert first is not None
    return int(first[0])


def test_a_new_version_of_a_small_state_is_one_query_that_sends_only_what_changed(
    conn: psycopg.Connection[Any],
) -> None:
    v1 = _version(conn, {"a": 1, "b": [1, 2, 3], "c": "x"}, _setup(conn))
    db, cache = Counted(conn), BlobCache()
    first = cache.load(db, "counted", v1)
    assert len(db.sent) == 1, db.sent  # keys and every value together
    assert dict(first) == {"a": 1, "b": [1, 2, 3], "c": "x", **SETUP}
    v2 = _version(conn, {"a": 2}, v1)
    db.sent.clear()
    second = cache.load(db, "counted", v2)
    assert len(db.sent) == 1, db.sent
    assert dict(second) == {"a": 2, "b": [1, 2, 3], "c": "x", **SETUP}
    assert second["b"] is first["b"]  # held: neither sent again nor unpickled again


def test_a_large_value_is_read_on_its_own_and_the_state_is_whole(
    conn: psycopg.Connection[Any],
) -> None:
    big = b"z" * (INLINE_BYTES + 1)
    v1 = _version(conn, {"big": big, "small": 1}, _setup(conn))
    db, cache = Counted(conn), BlobCache()
    state = cache.load(db, "counted", v1)
    assert state["big"] == big and state["small"] == 1
    assert len(db.sent) == 2  # the keys with the small values, then the large value alone
    v2 = _version(conn, {"small": 2}, v1)
    db.sent.clear()
    again = cache.load(db, "counted", v2)
    assert len(db.sent) == 1 and again["big"] is state["big"] and again["small"] == 2


def test_small_values_ride_along_only_up_to_the_limit(conn: psycopg.Connection[Any]) -> None:
    part = INLINE_BYTES // 2 - 100  # pickled, two of them fit under the limit, three do not
    values = {k: k.encode() * part for k in ("p", "q", "r")}
    v1 = _version(conn, values, _setup(conn))
    db, cache = Counted(conn), BlobCache()
    state = cache.load(db, "counted", v1)
    assert {k: state[k] for k in values} == values
    assert len(db.sent) == 2  # the keys with two of them, then the third alone
