"""Backfill (issue 11 item 2): re-infer stored rows in small transactions, resumable, without fit
events and without firing other motion triggers."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError, MotionSyntaxError, UnknownTrigger
from motion_pg.worker import Worker

from .conftest import motion_pg_cli

APP = "motion_test_apps.backfill"
ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int, out int, seen int, hits int, "
    "other int, other_hits int)"
)


def rows(conn: psycopg.Connection[Any], where: str = "true") -> list[tuple[Any, ...]]:
    return conn.execute(
        f"SELECT id, value, out, seen, hits FROM items WHERE {where} ORDER BY id"
    ).fetchall()


def one(conn: psycopg.Connection[Any], statement: str, args: list[Any] | None = None) -> Any:
    found = conn.execute(statement, args).fetchone()
    assert found is not None
    return found[0]


def jobs(conn: psycopg.Connection[Any]) -> int:
    return int(one(conn, "SELECT count(*) FROM motion.jobs"))


def fit(dsn: str) -> None:
    Worker(dsn, poll_interval=0.05).run(once=True)


@pytest.fixture
def items(conn: psycopg.Connection[Any]) -> None:
    """Table ``items`` with 100 rows no trigger inferred."""
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 100) g")


def scaler(conn: psycopg.Connection[Any], route: str = "items", **params: Any) -> None:
    with_ = ", ".join(f"{k} = {v!r}" for k, v in params.items())
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER s ON {route} USING '{APP}:Scaler'"
        + (f" WITH ({with_})" if with_ else ""),
    )


def test_create_with_backfill_infers_the_rows_already_there(
    conn: psycopg.Connection[Any], items: None
) -> None:
    [line] = motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER s ON items USING '{APP}:Scaler' WITH (backfill = true)"
    )
    assert line == "CREATE MOTION TRIGGER s (version 1, backfill run 1: 100 rows inferred)"
    assert all(r[2] == r[1] * 2 and r[3] == 1 and r[4] == 1 for r in rows(conn))
    assert jobs(conn) == 0  # no fit events for rows that were already there


def test_create_without_backfill_leaves_rows_alone(
    conn: psycopg.Connection[Any], items: None
) -> None:
    scaler(conn)
    assert all(r[2] is None for r in rows(conn))


def test_backfill_all_reinfers_every_row_once_without_fit_events(
    conn: psycopg.Connection[Any], dsn: str, items: None
) -> None:
    scaler(conn)
    conn.execute("INSERT INTO items (value) VALUES (1000)")  # inferred, one fit event
    fit(dsn)  # version 2: factor 3
    before = jobs(conn)
    [line] = motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL")
    assert line == "ALTER MOTION TRIGGER s BACKFILL (run 1: 101 rows inferred)"
    found = rows(conn)
    assert all(r[2] == r[1] * 3 and r[3] == 2 for r in found)
    assert [r[4] for r in found] == [1] * 100 + [2]  # each row inferred once more
    assert jobs(conn) == before


def test_backfill_stale_after_a_new_version(
    conn: psycopg.Connection[Any], dsn: str, items: None
) -> None:
    scaler(conn, backfill=True)  # every row stamped with version 1
    conn.execute("INSERT INTO items (value) VALUES (1000)")
    fit(dsn)  # version 2 serves
    conn.execute("INSERT INTO items (value) VALUES (2000)")  # inferred with version 2
    [line] = motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL STALE")
    assert line == "ALTER MOTION TRIGGER s BACKFILL (run 2: 101 rows inferred)"
    found = rows(conn)
    assert all(r[3] == 2 and r[2] == r[1] * 3 for r in found)
    assert found[-1][4] == 1  # the row inferred by version 2 was not visited
    [again] = motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL STALE")
    assert again == "ALTER MOTION TRIGGER s BACKFILL (run 3: 0 rows inferred)"


def test_rows_without_a_stamp_are_stale(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn)  # the 100 rows were never inferred: no stamp
    conn.execute("INSERT INTO items (value) VALUES (1000)")
    [line] = motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL STALE")
    assert line == "ALTER MOTION TRIGGER s BACKFILL (run 1: 100 rows inferred)"
    assert all(r[4] == 1 for r in rows(conn))


def test_backfill_where(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL ALL WHERE value % 10 = 0 AND id < 50")
    done = [r[0] for r in rows(conn) if r[4] == 1]
    assert done == [10, 20, 30, 40]


def test_bad_conditions_are_refused(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn)
    with pytest.raises(MotionSyntaxError, match="unbalanced"):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL WHERE true) OR (true")
    for condition in ("true) OR (true", "true; DELETE FROM items", "true /* ) */"):
        with pytest.raises(psycopg.Error):
            conn.execute("SELECT motion.backfill_start('s', false, %s)", [condition])
    with pytest.raises(psycopg.errors.UndefinedColumn):
        conn.execute("SELECT motion.backfill_start('s', false, 'nope > 1')")
    assert one(conn, "SELECT count(*) FROM items") == 100


def test_column_list_route_is_backfilled(
    conn: psycopg.Connection[Any], dsn: str, items: None
) -> None:
    scaler(conn, route="items (value)")
    conn.execute("UPDATE items SET value = value")  # the old way: the column did not change
    assert all(r[2] is None for r in rows(conn))
    motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL")
    assert all(r[2] == r[1] * 2 and r[4] == 1 for r in rows(conn))
    assert jobs(conn) == 0


def test_batch_mode_class(conn: psycopg.Connection[Any], items: None) -> None:
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER s ON items USING '{APP}:BatchScaler'")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL")
    assert all(r[2] == r[1] * 2 and r[4] == 1 for r in rows(conn))
    assert jobs(conn) == 0


def test_other_motion_triggers_are_not_fired(
    conn: psycopg.Connection[Any], dsn: str, items: None
) -> None:
    scaler(conn, backfill=True)
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER f ON items (out) USING '{APP}:Follower'")
    conn.execute("INSERT INTO items (value) VALUES (1000)")
    fit(dsn)  # s serves version 2 (factor 3): a backfill changes every row's out
    conn.execute("DELETE FROM motion.jobs")
    before = conn.execute("SELECT id, other, other_hits FROM items ORDER BY id").fetchall()
    motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL")
    assert all(r[2] == r[1] * 3 for r in rows(conn))  # out changed, in column f routes on
    after = conn.execute("SELECT id, other, other_hits FROM items ORDER BY id").fetchall()
    assert after == before  # f did not infer
    assert jobs(conn) == 0  # neither s nor f enqueued fit events
    changes = one(conn, "SELECT count(*) FROM motion.lineage_changes WHERE trigger_name = 'f'")
    assert changes == 0


def test_stale_needs_lineage(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn, lineage=False)
    with pytest.raises(DefinitionError, match="lineage"):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL STALE")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL ALL")
    assert all(r[4] == 1 for r in rows(conn))


def test_disabled_or_unknown_trigger_is_refused(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER s DISABLE")
    with pytest.raises(DefinitionError, match="ENABLE"):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER s BACKFILL")
    with pytest.raises(UnknownTrigger):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER nope BACKFILL")


def test_large_tables_are_left_to_the_cli(
    conn: psycopg.Connection[Any], dsn: str, items: None
) -> None:
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(101, 10001) g")
    [line] = motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER s ON items USING '{APP}:Scaler' WITH (backfill = true)"
    )
    assert "10001 rows left to the worker or `motion-pg backfill s`" in line
    assert one(conn, "SELECT count(*) FROM items WHERE out IS NOT NULL") == 0
    out = motion_pg_cli("backfill", "s", "--chunk", "2500", "--json", dsn=dsn).stdout
    run = json.loads(out)
    assert (run["id"], run["state"], run["visited"], run["chunks"]) == (1, "done", 10001, 5)
    assert run["rows_per_second"] > 0
    assert one(conn, "SELECT count(*) FROM items WHERE hits = 1 AND out = value * 2") == 10001


def test_call_procedure(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn)
    conn.execute("CALL motion.backfill('s', chunk => 30)")
    assert one(conn, "SELECT chunks FROM motion.backfills") == 4
    assert all(r[4] == 1 for r in rows(conn))


def test_kill_the_cli_mid_run_then_resume(
    conn: psycopg.Connection[Any], dsn: str, items: None
) -> None:
    """kill -9 of the CLI, then the same command: every row inferred exactly once."""
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(101, 1500) g")
    scaler(conn, sleep=0.001)  # ~0.1 s per chunk of 100
    cli = subprocess.Popen(
        [sys.executable, "-m", "motion_pg.cli", "backfill", "s", "--chunk", "100"],
        env={"MOTION_DSN": dsn, "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while one(conn, "SELECT coalesce(max(visited), 0) FROM motion.backfills") < 300:
        assert time.monotonic() < deadline and cli.poll() is None
        time.sleep(0.02)
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    # the chunk the server was running when the client died may still commit: wait for calm
    while one(conn, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%backfill_step%'"
              " AND pid <> pg_backend_pid() AND state = 'active'"):  # fmt: skip
        time.sleep(0.05)
    visited = one(conn, "SELECT visited FROM motion.backfills")
    assert 300 <= visited < 1500
    assert one(conn, "SELECT count(*) FROM items WHERE hits = 1") == visited
    out = motion_pg_cli("backfill", "s", "--chunk", "100", dsn=dsn)
    assert "resuming backfill run 1" in out.stderr
    assert "done: 1500 rows visited" in out.stdout
    assert one(conn, "SELECT count(*) FROM items WHERE hits = 1 AND out = value * 2") == 1500
    assert one(conn, "SELECT count(*) FROM motion.backfills") == 1


def test_concurrent_writer(conn: psycopg.Connection[Any], dsn: str, items: None) -> None:
    """A writer updates the rows of the chunk the backfill is working on, and inserts rows,
    while the backfill runs: every row ends inferred from its final value with the serving
    version (never overwritten by a result computed from an older value), and rows the writer
    inserted are inferred once, by the writer."""
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(101, 2000) g")
    scaler(conn, sleep=0.001)  # ~50 ms per chunk of 50: the writer gets in while one runs
    conn.execute("INSERT INTO items (value) VALUES (1)")
    fit(dsn)  # version 2 serves (factor 3)
    stop = threading.Event()
    inserted: list[int] = []
    updated: set[int] = set()
    updates: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as w:
                while not w.execute("SELECT count(*) FROM motion.backfills").fetchone()[0]:  # type: ignore[index]
                    time.sleep(0.01)  # rows written before the run began are the run's to infer
                n = 0
                while not stop.is_set():
                    n += 1
                    hit = w.execute(  # a row of the chunk being backfilled, or just after it
                        "UPDATE items SET value = value + 1 WHERE id = (SELECT coalesce("
                        "(SELECT last_key[1]::int FROM motion.backfills WHERE state = 'running'"
                        "), 0) + %s) RETURNING id",
                        [n % 60 + 1],
                    ).fetchone()
                    if hit is not None:
                        updated.add(int(hit[0]))
                        updates.append(int(hit[0]))
                    found = w.execute(
                        "INSERT INTO items (value) VALUES (%s) RETURNING id", [n]
                    ).fetchone()
                    assert found is not None
                    inserted.append(int(found[0]))
        except BaseException as e:  # reported by the test
            errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.2)
        motion_pg_cli("backfill", "s", "--chunk", "50", dsn=dsn)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(inserted) >= 3, inserted
    wrong = conn.execute(
        "SELECT id, value, out, seen FROM items WHERE out IS DISTINCT FROM value * 3 OR seen <> 2"
    ).fetchall()
    assert wrong == []
    assert len(updated) >= 3, updated
    only_inserted = [i for i in inserted if i not in updated]
    hits = conn.execute("SELECT hits FROM items WHERE id = ANY(%s)", [only_inserted]).fetchall()
    assert len(hits) >= 1, (inserted, updated)
    assert {h for (h,) in hits} == {1}  # the writer's new rows: inferred once, by the writer
    pending = one(conn, "SELECT count(*) FROM motion.jobs WHERE state = 'pending'")
    assert pending == len(inserted) + len(updates)  # the writer's events only


MODEL = """import motion_pg

from . import helpers


class Tagger(motion_pg.Trigger):
    def setup(self, ctx):
        return {}

    def infer(self, row, ctx):
        return {"tag": helpers.TAG}
"""


@pytest.fixture
def package(conn: psycopg.Connection[Any]) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="motion-backfill-"))
    root.chmod(0o755)
    conn.execute(
        "INSERT INTO motion.import_paths (position, path)"
        " SELECT coalesce(max(position), 0) + 1, %s FROM motion.import_paths",
        [str(root)],
    )
    pkg = root / f"backfill_{uuid.uuid4().hex[:10]}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(MODEL)
    (pkg / "helpers.py").write_text("TAG = 'v1'\n")
    yield pkg
    shutil.rmtree(root, ignore_errors=True)


def test_backfill_stale_after_reload(
    conn: psycopg.Connection[Any], dsn: str, package: Path
) -> None:
    conn.execute("CREATE TABLE tagged (id int PRIMARY KEY, tag text)")
    conn.execute("INSERT INTO tagged SELECT g FROM generate_series(1, 20) g")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER t ON tagged USING '{package.name}.model:Tagger' "
        "WITH (backfill = true)",
    )
    (package / "helpers.py").write_text("TAG = 'v2'\n")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER t RELOAD")
    conn.execute("INSERT INTO tagged VALUES (21)")  # inferred by the new code
    run = json.loads(motion_pg_cli("backfill", "t", "--stale", "--json", dsn=dsn).stdout)
    assert (run["mode"], run["visited"], run["inferred"]) == ("stale", 20, 20)
    assert one(conn, "SELECT array_agg(DISTINCT tag) FROM tagged") == ["v2"]


def test_partitioned_table(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(
        "CREATE TABLE parts (id int PRIMARY KEY, value int, out int, seen int, hits int)"
        " PARTITION BY RANGE (id)"
    )
    conn.execute("CREATE TABLE parts_a PARTITION OF parts FOR VALUES FROM (0) TO (50)")
    conn.execute("CREATE TABLE parts_b PARTITION OF parts FOR VALUES FROM (50) TO (100)")
    conn.execute("INSERT INTO parts SELECT g, g FROM generate_series(1, 99) g")
    [line] = motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER s ON parts USING '{APP}:Scaler' WITH (backfill = true)"
    )
    assert line.endswith("backfill run 1: 99 rows inferred)")
    assert one(conn, "SELECT count(*) FROM parts WHERE hits = 1 AND out = value * 2") == 99
    assert jobs(conn) == 0


def test_replace_supersedes_a_running_run(conn: psycopg.Connection[Any], items: None) -> None:
    scaler(conn)
    conn.execute("SELECT motion.backfill_start('s')")
    conn.execute("SELECT motion.backfill_step(1, 10)")
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER s ON items USING '{APP}:Scaler'")
    assert one(conn, "SELECT state FROM motion.backfills WHERE id = 1") == "superseded"
    out = one(conn, "SELECT motion.backfill_step(1)")
    assert (out["state"], out["visited"]) == ("superseded", 10)


def test_fit_only_trigger_has_nothing_to_backfill(
    conn: psycopg.Connection[Any], items: None
) -> None:
    [line] = motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER s ON items NO INFER USING '{APP}:Scaler' WITH (backfill = true)",
    )
    assert line == "CREATE MOTION TRIGGER s (version 1, backfill nothing to infer: no infer route)"
