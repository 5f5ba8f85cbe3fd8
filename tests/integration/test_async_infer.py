"""Async infer (``WITH (infer_mode = 'async')``) on a real Postgres: the writer records, the worker
infers after commit and writes outputs back by primary key."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError
from motion_pg.metrics.collector import CatalogCollector
from motion_pg.runtime import stamps
from motion_pg.worker import Worker
from motion_pg.worker.async_infer import open_inferer
from motion_pg.worker.async_loop import drain
from tests.integration.conftest import state

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, note text, doubled int,"
    " seen_version int, batch_size int)"
)


def create(conn: psycopg.Connection[Any], cls: str = "AsyncDoubler", route: str = "items",
           params: str = "") -> None:  # fmt: skip
    conn.execute(ITEMS)
    extra = f", {params}" if params else ""
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER counter ON {route} USING 'motion_test_apps.asynchronous:{cls}'"
        f" WITH (infer_mode = 'async'{extra})",
    )


def insert(conn: psycopg.Connection[Any], *values: int) -> None:
    conn.execute("INSERT INTO items (value) SELECT unnest(%s::int[])", [list(values)])


def rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT value, doubled, seen_version FROM items ORDER BY id").fetchall()


def recorded(conn: psycopg.Connection[Any]) -> int:
    found = conn.execute("SELECT count(*) FROM motion.async_rows").fetchone()
    assert found is not None
    return int(found[0])


def test_the_writer_records_and_the_worker_writes_outputs(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn)
    insert(conn, 1, 2, 3)
    assert rows(conn) == [(1, None, None), (2, None, None), (3, None, None)]
    assert recorded(conn) == 3
    assert drain(dsn) == 3
    assert rows(conn) == [(1, 2, 1), (2, 4, 1), (3, 6, 1)]
    assert recorded(conn) == 0
    assert drain(dsn) == 0  # the write-back recorded nothing new


def test_no_python_runs_in_the_writers_path(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    found = conn.execute(
        "SELECT t.tgname, l.lanname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
        " JOIN pg_language l ON l.oid = p.prolang"
        " WHERE t.tgrelid = 'items'::regclass AND NOT t.tgisinternal ORDER BY 1"
    ).fetchall()
    names = [n for n, _ in found]
    assert "motion_counter_0_async_ins" in names and "motion_counter_0_async_upd" in names
    assert not any("infer" in n for n in names)
    assert {lang for _, lang in found} == {"plpgsql"}


def test_create_says_outputs_come_after_commit(conn: psycopg.Connection[Any]) -> None:
    said: list[str] = []
    conn.add_notice_handler(lambda d: said.append(d.message_primary or ""))
    create(conn)
    assert any("asynchronously" in s and "RETURNING" in s for s in said)


def test_an_async_route_needs_a_primary_key(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE nokey (value int, doubled int)")
    with pytest.raises(DefinitionError, match="no primary key"):
        motion_pg.execute(
            conn,
            "CREATE MOTION TRIGGER counter ON nokey USING 'motion_test_apps.asynchronous:"
            "AsyncDoubler' WITH (infer_mode = 'async')",
        )


def test_fit_events_flow_as_before_and_the_write_back_enqueues_none(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn)
    insert(conn, 1, 2, 3)
    drain(dsn)
    jobs = conn.execute("SELECT count(*) FROM motion.jobs WHERE trigger_name = 'counter'")
    assert jobs.fetchone() == (3,)
    Worker(dsn).run(once=True)
    got = state(conn, "counter")
    assert got["count"] == 3 and sorted(got["values"]) == [1, 2, 3]  # rows as committed
    insert(conn, 5)
    Worker(dsn).run(once=True)  # fits and infers: the new rows are served by version 2
    assert rows(conn)[-1] == (5, 10, 2)


def test_an_update_is_inferred_with_the_latest_content(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn)
    insert(conn, 1)
    drain(dsn)
    conn.execute("UPDATE items SET value = 7")
    conn.execute("UPDATE items SET value = 8")
    assert recorded(conn) == 2
    assert drain(dsn) == 2  # one infer for the row, recorded twice
    assert rows(conn) == [(8, 16, 1)]


def test_a_row_updated_while_inferred_never_gets_stale_outputs(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Path
) -> None:
    create(conn, cls="AsyncHeld", params=f"dir = '{tmp_path}'")
    insert(conn, 1)
    inferer = open_inferer(dsn, batch=100, threads=2, excluded=list)
    try:
        step = threading.Thread(target=inferer.step)
        step.start()
        deadline = time.monotonic() + 10
        while not (tmp_path / "entered").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        conn.execute("UPDATE items SET value = 5")  # committed while infer holds value 1
        (tmp_path / "release").touch()
        step.join(10)
        assert rows(conn) == [(5, None, None)]  # not 2: outputs of value 1 are stale
        assert recorded(conn) == 2  # the stale row's entry is kept, with the update's
        inferer.drain()
    finally:
        (tmp_path / "release").touch()
        inferer.close()
        inferer.conn.close()
    assert rows(conn) == [(5, 10, 1)]
    assert recorded(conn) == 0


def test_rows_deleted_before_infer_are_dropped(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn)
    insert(conn, 1, 2)
    conn.execute("DELETE FROM items WHERE value = 1")
    assert drain(dsn) == 2
    assert rows(conn) == [(2, 4, 1)] and recorded(conn) == 0


def test_infer_batch_gets_the_batch(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn, cls="AsyncBatch")
    insert(conn, *range(1, 21))
    drain(dsn)
    got = conn.execute("SELECT DISTINCT batch_size, seen_version FROM items").fetchall()
    assert got == [(20, 1)]


def test_a_failing_row_is_recorded_and_never_blocks_the_others(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn)
    insert(conn, 1, -1, 0, 3)
    assert drain(dsn) == 4
    assert rows(conn) == [(1, 2, 1), (-1, None, None), (0, None, None), (3, 6, 1)]
    errors = conn.execute("SELECT row_key, error FROM motion.infer_errors").fetchall()
    assert len(errors) == 1 and errors[0][0] == {"id": 2}
    assert "cannot infer value -1" in errors[0][1] and '"counter"' in errors[0][1]
    assert recorded(conn) == 0
    stats = conn.execute("SELECT written, failed FROM motion.async_stats").fetchone()
    assert stats == (3, 1)


def test_outputs_carry_their_lineage_stamp(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn)
    with conn.transaction():
        insert(conn, 4)
        xact = conn.execute("SELECT pg_current_xact_id()::text::int8").fetchone()
    drain(dsn)
    raw = conn.execute("SELECT counter_lineage FROM items").fetchone()
    assert raw is not None and raw[0] is not None and xact is not None
    stamp = stamps.decode(bytes(raw[0]))
    assert (stamp.version, stamp.xact, stamp.flags) == (1, xact[0], stamps.WROTE)
    assert set(stamp.columns({2: "value", 4: "doubled", 5: "seen_version"})) == {
        "doubled", "seen_version",
    }  # fmt: skip
    lineage = conn.execute("""SELECT motion.lineage('items', '{"id": 1}')""").fetchone()
    assert lineage is not None and "counter" in str(lineage[0])


def test_a_column_list_records_only_updates_of_those_columns(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, route="items (value)")
    insert(conn, 1)
    drain(dsn)
    conn.execute("UPDATE items SET note = 'x'")
    assert recorded(conn) == 0
    conn.execute("UPDATE items SET value = 3")
    assert recorded(conn) == 1
    drain(dsn)
    assert rows(conn) == [(3, 6, 1)]


def test_disable_stops_recording(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter DISABLE")
    insert(conn, 1)
    assert recorded(conn) == 0
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter ENABLE")
    insert(conn, 2)
    assert recorded(conn) == 1


def test_the_running_worker_writes_outputs_and_exports_freshness(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn)
    worker = Worker(dsn, poll_interval=0.5)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        insert(conn, 1, 2)
        deadline = time.monotonic() + 15
        while rows(conn) != [(1, 2, 1), (2, 4, 1)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows(conn) == [(1, 2, 1), (2, 4, 1)]
    finally:
        worker.stop()
        thread.join(30)
    collector = CatalogCollector(dsn)
    try:
        families = {m.name: m for m in collector.collect()}
    finally:
        collector.close()
    freshness = families["motion_async_freshness_seconds"]
    count = [s for s in freshness.samples if s.name.endswith("_count")]
    assert count and count[0].labels == {"trigger": "counter"} and count[0].value == 2
    total = [s for s in freshness.samples if s.name.endswith("_sum")]
    assert 0 < total[0].value < 15
    pending = families["motion_async_pending_rows"]
    assert [s.value for s in pending.samples] == [0]
