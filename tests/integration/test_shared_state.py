"""Shared large states (issue 15 goal 5): one memory-mapped cache file per large state value, shared
by every backend on the host; damaged or missing files fall back to the database with a reason."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from tests.integration.conftest import state

TABLE = "CREATE TABLE items (id serial PRIMARY KEY, x int NOT NULL, y float8, mapped boolean)"
CREATE = "CREATE MOTION TRIGGER emb ON items USING 'motion_test_apps.shared:Embeddings'"


@pytest.fixture
def cache(conn: psycopg.Connection[Any]) -> Path:
    """This database's cache directory, after a trigger with a 2 MB state is created."""
    conn.execute(TABLE)
    motion_pg.execute(conn, CREATE + " WITH (mb = 2)")
    return cache_of(conn)


def cache_of(conn: psycopg.Connection[Any]) -> Path:
    """The cache directory of ``conn``'s database."""
    row = conn.execute(
        "SELECT current_setting('data_directory'), d.oid FROM pg_database d "
        "WHERE d.datname = current_database()"
    ).fetchone()
    assert row is not None
    return Path(row[0]) / "motion_state" / str(row[1])


@pytest.fixture
def session(dsn: str) -> Iterator[tuple[psycopg.Connection[Any], list[str]]]:
    """A new backend that receives motion's LOG lines as notices."""
    logs: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as c:
        c.add_notice_handler(lambda d: logs.append(d.message_primary or ""))
        c.execute("SET client_min_messages = log")
        yield c, logs


def insert(c: psycopg.Connection[Any]) -> tuple[float, bool]:
    row = c.execute("INSERT INTO items (x) VALUES (1) RETURNING y, mapped").fetchone()
    assert row is not None
    return float(row[0]), bool(row[1])


def files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.mps"))


def mapped_by(c: psycopg.Connection[Any], path: Path) -> bool:
    pid = c.info.backend_pid
    return str(path) in Path(f"/proc/{pid}/maps").read_text()


def test_a_large_value_is_written_once_and_mapped_by_every_backend(
    dsn: str, cache: Path, session: tuple[psycopg.Connection[Any], list[str]]
) -> None:
    first, logs = session
    [path] = files(cache)  # the 2 MB array, written by CREATE; the small "scale" stays in the db
    assert insert(first) == (3.0, True)
    assert not [m for m in logs if "motion state cache" in m], logs  # mapped, not written
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    assert mapped_by(first, path)
    with psycopg.connect(dsn, autocommit=True) as second:
        second.execute("SET client_min_messages = log")
        notes: list[str] = []
        second.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        assert insert(second) == (3.0, True)
        assert mapped_by(second, path)
        assert not [m for m in notes if "motion state cache" in m]  # a hit says nothing
    assert files(cache) == [path]


def test_a_small_state_stays_on_the_database_path(conn: psycopg.Connection[Any]) -> None:
    conn.execute(TABLE)
    motion_pg.execute(conn, CREATE + " WITH (mb = 0.1)")
    row = conn.execute("INSERT INTO items (x) VALUES (1) RETURNING y, mapped").fetchone()
    assert row == (3.0, False)
    found = conn.execute(
        "SELECT current_setting('data_directory'), d.oid FROM pg_database d "
        "WHERE d.datname = current_database()"
    ).fetchone()
    assert found is not None
    assert not list((Path(found[0]) / "motion_state" / str(found[1])).glob("*.mps"))


def _flip(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


def _stream_middle(path: Path) -> int:
    import json

    head = path.read_bytes()[:4096]
    length = int.from_bytes(head[8:12], "little")
    start, size = json.loads(head[44 : 44 + length])["stream"]
    return int(start + size // 2)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("truncate", "truncated"),
        ("header", "header checksum"),
        ("stream", "stream checksum"),
        ("magic", "bad magic"),
        ("delete", "no cache file yet"),
    ],
)
def test_a_damaged_or_missing_file_falls_back_to_the_database(
    dsn: str, cache: Path, damage: str, reason: str
) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        assert insert(c) == (3.0, True)
    [path] = files(cache)
    if damage == "truncate":
        os.truncate(path, path.stat().st_size - 4096)
    elif damage == "delete":
        path.unlink()
    else:
        _flip(path, {"magic": 0, "header": 60, "stream": _stream_middle(path)}[damage])
    with psycopg.connect(dsn, autocommit=True) as c:
        logs: list[str] = []
        c.add_notice_handler(lambda d: logs.append(d.message_primary or ""))
        c.execute("SET client_min_messages = log")
        assert insert(c) == (3.0, True)  # served right, from the database, then the new file
        said = [m for m in logs if "motion state cache" in m]
        assert said and reason in said[0] and "read from the database" in said[0], said
    with psycopg.connect(dsn, autocommit=True) as c:  # the rewritten file serves the next one
        logs = []
        c.add_notice_handler(lambda d: logs.append(d.message_primary or ""))
        c.execute("SET client_min_messages = log")
        assert insert(c) == (3.0, True)
        assert not [m for m in logs if "motion state cache" in m]


def test_prune_deletes_the_files_of_pruned_versions(
    conn: psycopg.Connection[Any], dsn: str, cache: Path
) -> None:
    motion_pg.execute(conn, "ALTER MOTION TRIGGER emb SET (keep_versions = 1)")
    with psycopg.connect(dsn, autocommit=True) as c:
        insert(c)
        [old] = files(cache)
        motion_pg.execute(conn, "ALTER MOTION TRIGGER emb REFIT")  # a new random array
        insert(c)
        assert len(files(cache)) == 2
        conn.execute("SELECT * FROM motion.prune()")
        [kept] = files(cache)
        assert kept != old
        assert insert(c) == (3.0, True)  # the backend that mapped the old file lets it go
    motion_pg.execute(conn, "DROP MOTION TRIGGER emb")
    conn.execute("SELECT * FROM motion.prune()")
    assert not files(cache)


def test_the_cache_can_be_turned_off_by_the_server_only(
    conn: psycopg.Connection[Any], dsn: str, cache: Path
) -> None:
    found = conn.execute("SELECT current_setting('config_file')").fetchone()
    assert found is not None
    config = Path(found[0])
    original = config.read_text()
    for path in files(cache):  # written by CREATE: none must be written while it is off
        path.unlink()
    config.write_text(original + "\nmotion.state_cache = 'off'\n")
    conn.execute("SELECT pg_reload_conf()")
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            assert insert(c) == (3.0, False)
        assert not files(cache)
    finally:
        config.write_text(original)
        conn.execute("SELECT pg_reload_conf()")
    with psycopg.connect(dsn, autocommit=True) as c:
        assert insert(c) == (3.0, True)


def test_the_worker_on_the_same_host_maps_the_servers_files(
    conn: psycopg.Connection[Any], dsn: str, cache: Path, tmp_path: Path
) -> None:
    import numpy as np

    from motion_pg.runtime.state_files import write_value
    from motion_pg.testing import fit_pending

    with psycopg.connect(dsn, autocommit=True) as c:
        insert(c)
    [path] = files(cache)
    # a valid file of a different value under the real name: only a worker that maps the
    # server's file (and not the database's value) fits with it
    digest = bytes.fromhex(path.name.removesuffix(".mps"))
    planted = np.full(8, 42.0)
    write_value(str(tmp_path), digest, planted)
    os.rename(tmp_path / path.name, path)
    os.chown(path, cache.stat().st_uid, cache.stat().st_gid)
    assert fit_pending(conn) == 1
    assert state(conn, "emb")["seen"] == 42.0
