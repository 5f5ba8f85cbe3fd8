"""Shared large states, continued (issue 15 goal 5): the version writer writes the cache file, so no
infer pays for it; a writer that cannot write it costs only a logged fallback; async serving maps
the files; a dropped database's cache directory is swept by the next ``motion.prune``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.testing import databases, fit_pending

from .test_shared_state import cache_of, files, insert

TABLE = "CREATE TABLE items (id serial PRIMARY KEY, x int NOT NULL, y float8, mapped boolean)"
EMB = "CREATE MOTION TRIGGER emb ON items USING 'motion_test_apps.shared:Embeddings' WITH (mb = 2)"
GROW = "CREATE MOTION TRIGGER grow ON items USING 'motion_test_apps.shared_writer:Growing'"


@pytest.fixture
def session(dsn: str) -> Iterator[tuple[psycopg.Connection[Any], list[str]]]:
    """A new backend that receives motion's LOG lines as notices."""
    logs: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as c:
        c.add_notice_handler(lambda d: logs.append(d.message_primary or ""))
        c.execute("SET client_min_messages = log")
        yield c, logs


def said(logs: list[str]) -> list[str]:
    return [m for m in logs if "motion state cache" in m]


def test_create_and_refit_write_the_file_so_the_first_infer_maps_it(
    conn: psycopg.Connection[Any], session: tuple[psycopg.Connection[Any], list[str]]
) -> None:
    conn.execute(TABLE)
    motion_pg.execute(conn, EMB)
    cache = cache_of(conn)
    [first] = files(cache)  # written by CREATE's backend, before any infer
    c, logs = session
    assert insert(c) == (3.0, True)
    assert not said(logs), logs  # mapped: no fallback, no write
    motion_pg.execute(conn, "ALTER MOTION TRIGGER emb REFIT")  # a new random array
    assert len(files(cache)) == 2
    assert insert(c) == (3.0, True)  # the first infer of the new version maps its file
    assert not said(logs), logs
    assert oct(first.stat().st_mode & 0o777) == "0o600"


def test_a_worker_fit_writes_the_file_of_its_new_value(
    conn: psycopg.Connection[Any], session: tuple[psycopg.Connection[Any], list[str]]
) -> None:
    conn.execute(TABLE)
    motion_pg.execute(conn, GROW + " WITH (mb = 2)")
    cache = cache_of(conn)
    c, logs = session
    assert insert(c) == (1.0, True)
    insert(c)
    assert fit_pending(conn, "grow") == 1
    assert len(files(cache)) == 2  # the fit's new array, written by the worker before its commit
    owner = cache.stat().st_uid
    assert all(f.stat().st_uid == owner and f.stat().st_mode & 0o777 == 0o600 for f in files(cache))
    assert insert(c) == (3.0, True)  # version 2 at once, mapped
    assert not said(logs), logs


def test_a_writer_that_cannot_write_the_file_costs_only_a_logged_fallback(
    conn: psycopg.Connection[Any], session: tuple[psycopg.Connection[Any], list[str]]
) -> None:
    conn.execute(TABLE)
    motion_pg.execute(conn, EMB)
    cache = cache_of(conn)
    cache.chmod(0o500)  # the server cannot add files: as if it crashed before writing
    try:
        motion_pg.execute(conn, "ALTER MOTION TRIGGER emb REFIT")  # the version commits anyway
    finally:
        cache.chmod(0o700)
    assert len(files(cache)) == 1
    c, logs = session
    assert insert(c) == (3.0, True)  # the right value, read from the database, file written
    [line] = said(logs)
    assert "no cache file yet" in line and "read from the database" in line, logs
    assert len(files(cache)) == 2


def test_async_serving_maps_the_servers_files(conn: psycopg.Connection[Any], dsn: str) -> None:
    from motion_pg.pg import PgDatabase
    from motion_pg.worker.async_serving import ServedTriggers

    conn.execute(TABLE)
    motion_pg.execute(conn, EMB)
    [path] = files(cache_of(conn))
    with psycopg.connect(dsn, autocommit=True) as worker:
        served = ServedTriggers().get(PgDatabase(worker), "emb")
        assert served is not None
        weights = served.state["weights"]
        assert not weights.flags.writeable  # a view of the mapped file, not a private copy
        assert str(path) in Path("/proc/self/maps").read_text()


def test_a_dropped_databases_cache_directory_is_swept_by_prune(
    conn: psycopg.Connection[Any], motion_server: databases.Server, motion_template: str
) -> None:
    root = cache_of(conn).parent
    with databases.cloned_database(motion_server, motion_template) as other:
        with databases.connect(other) as c:
            c.execute(TABLE)
            motion_pg.execute(c, EMB)
            gone = cache_of(c)
        assert files(gone)
    assert gone.exists()  # DROP DATABASE runs no code of motion's
    conn.execute("SELECT * FROM motion.prune()")
    assert not gone.exists()
    assert root.exists()


def test_a_keyed_trigger_maps_its_shared_large_state(
    conn: psycopg.Connection[Any], session: tuple[psycopg.Connection[Any], list[str]]
) -> None:
    conn.execute(TABLE)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER kg ON items STATE PER (x) "
                      "USING 'motion_test_apps.shared_writer:KeyedGrowing' WITH (mb = 2)")  # fmt: skip
    cache = cache_of(conn)
    [path] = files(cache)
    c, logs = session
    assert insert(c) == (1.0, True)
    assert fit_pending(conn, "kg") == 1  # the key's own small state: version 2
    assert insert(c) == (2.0, True)  # the key's new count over the same mapped array
    assert files(cache) == [path]
    assert not said(logs), logs


def test_a_missing_file_of_a_large_value_is_read_back_in_slices(
    conn: psycopg.Connection[Any], session: tuple[psycopg.Connection[Any], list[str]]
) -> None:
    from motion_pg.runtime import blob_stream

    conn.execute(TABLE)
    mb = 3 * blob_stream.SLICE / (1 << 20)  # more than two slices: not read whole
    motion_pg.execute(conn, EMB.replace("mb = 2", f"mb = {mb}"))
    cache = cache_of(conn)
    [path] = files(cache)
    path.unlink()
    c, logs = session
    assert insert(c) == (3.0, True)  # the right value, unpickled from slices, the file rewritten
    [line] = said(logs)
    assert "no cache file yet" in line and "read from the database" in line, logs
    assert files(cache) == [path]
