"""Shared state cache (runtime/shared_state.py): no database role can redirect, read, write or swap
the server's cache files, and a swapped or planted file is refused, never unpickled."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from tests.security.conftest import Role

TABLE = "CREATE TABLE items (id serial PRIMARY KEY, x int NOT NULL, y float8, mapped boolean)"


@pytest.fixture
def cache(conn: psycopg.Connection[Any]) -> Path:
    conn.execute(TABLE)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER emb ON items "
                      "USING 'motion_test_apps.shared:Embeddings' WITH (mb = 2)")  # fmt: skip
    row = conn.execute(
        "SELECT current_setting('data_directory'), d.oid FROM pg_database d "
        "WHERE d.datname = current_database()"
    ).fetchone()
    assert row is not None
    return Path(row[0]) / "motion_state" / str(row[1])


@pytest.fixture
def writer(conn: psycopg.Connection[Any], make_role: Callable[[], Role], cache: Path) -> Role:
    role = make_role()
    conn.execute(f'GRANT INSERT, SELECT ON items TO "{role.name}"')
    conn.execute(f'GRANT USAGE ON SEQUENCE items_id_seq TO "{role.name}"')
    return role


def insert(c: psycopg.Connection[Any]) -> tuple[float, bool]:
    row = c.execute("INSERT INTO items (x) VALUES (1) RETURNING y, mapped").fetchone()
    assert row is not None
    return float(row[0]), bool(row[1])


@pytest.mark.parametrize(
    "how",
    [
        "SET motion.state_cache = '{path}'",
        "ALTER ROLE \"{role}\" SET motion.state_cache = '{path}'",
        "SET motion.state_cache_min = '1'",
    ],
)
def test_a_role_cannot_point_the_cache_elsewhere(
    writer: Role, cache: Path, tmp_path: Path, how: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o777)
    os.chmod(elsewhere, 0o777)
    statement = how.format(path=elsewhere, role=writer.name)
    if statement.startswith("ALTER"):  # applies from the role's next session on
        # refused is even better: the role may not set it at all
        with writer.connect() as c, contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            c.execute(statement)
    with writer.connect() as c:
        if statement.startswith("SET"):
            c.execute(statement)
        assert insert(c) == (3.0, True)
    assert not list(elsewhere.iterdir())  # nothing written where the role pointed
    assert len(list(cache.glob("*.mps"))) == 1  # the server's own location, the 2 MB value only


def test_a_role_cannot_call_the_cache_functions(writer: Role, cache: Path) -> None:
    with writer.connect() as c:
        for call in ("SELECT * FROM motion.state_cache_location()",
                     "SELECT motion._sweep_state_cache()",
                     "SELECT * FROM motion._state_cache_settings()"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(call)


def test_files_are_private_to_the_server_user(writer: Role, cache: Path) -> None:
    with writer.connect() as c:
        insert(c)
    [path] = cache.glob("*.mps")
    owner = cache.parent.stat().st_uid
    for p in (cache.parent, cache):
        assert p.stat().st_uid == owner and p.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_uid == owner and path.stat().st_mode & 0o777 == 0o600
    # pg_read_binary_file needs privileges no plain role has
    with writer.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("SELECT pg_read_binary_file(%s)", [str(path)])


def test_a_swapped_or_planted_file_is_refused(
    conn: psycopg.Connection[Any], writer: Role, cache: Path
) -> None:
    with writer.connect() as c:
        insert(c)
    [real] = cache.glob("*.mps")
    # another value's file, valid in itself, renamed into place: the header names its digest
    motion_pg.execute(conn, "ALTER MOTION TRIGGER emb SET (first = 7)")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER emb REFIT")
    with writer.connect() as c:
        assert insert(c) == (14.0, True)
    new = next(p for p in cache.glob("*.mps") if p != real)
    shutil.copy2(real, new.with_suffix(".swap"))
    os.rename(new.with_suffix(".swap"), new)
    os.chown(new, real.stat().st_uid, real.stat().st_gid)
    with writer.connect() as c:
        logs: list[str] = []
        c.add_notice_handler(lambda d: logs.append(d.message_primary or ""))
        c.execute("SET client_min_messages = log")
        assert insert(c) == (14.0, True)  # the database's value, not the swapped file's
        assert any("another digest" in m for m in logs), logs
    # a symlink planted at a file's name is never followed
    new.unlink()
    target = cache.parent / "planted"
    shutil.copy2(real, target)
    os.symlink(target, new)
    with writer.connect() as c:
        assert insert(c) == (14.0, True)
    assert not new.is_symlink()  # replaced by the rewritten file
    target.unlink()


def test_an_unsafe_directory_turns_the_cache_off(writer: Role, cache: Path) -> None:
    with writer.connect() as c:
        insert(c)
    [path] = cache.glob("*.mps")
    path.unlink()
    os.chmod(cache, 0o777)
    try:
        with writer.connect() as c:
            logs: list[str] = []
            c.add_notice_handler(lambda d: logs.append(d.message_primary or ""))
            c.execute("SET client_min_messages = log")
            assert insert(c) == (3.0, False)
            assert any("writable by other users" in m for m in logs), logs
    finally:
        os.chmod(cache, 0o700)
    assert not path.exists()  # nothing written into a directory others could write to
