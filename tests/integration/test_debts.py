"""Debts of earlier releases: one unknown-trigger error in SQL, finished runs keep no event ids,
experiments made before 0.5 upgraded to what 0.5 makes, and the dashboard's state values on a
managed install."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg import extension as ext
from motion_pg.embedded import Cluster
from motion_pg.errors import UNKNOWN_TRIGGER_HINT
from motion_pg.install import install
from motion_pg.queries import query, sql_dir
from motion_pg.runtime.experiments import in_canary
from motion_pg.triggers_ddl import pg_trigger_name
from motion_pg.worker import Worker

from .conftest import IMPORT_PATHS, _janitor
from .test_dashboard import Dashboard
from .test_managed import managed as managed  # the fixtures
from .test_managed import owner_dsn as owner_dsn
from .test_reliability import create_tally
from .test_shadow_batch import commands

APPS = "motion_test_apps.experiments"


@pytest.mark.parametrize(
    "call",
    [
        "SELECT * FROM motion.prune('nope')",
        "SELECT motion.wait_for_fits('nope', '1 s')",
        "SELECT motion.key_of('nope', ARRAY['1'])",
        "SELECT motion.key_state('nope', '[1]')",
        "SELECT motion.state('nope')",
        "SELECT motion.drift_pin('nope')",
        "SELECT motion.compare('nope', 'other')",
        "SELECT motion.backfill_start('nope')",
    ],
)
def test_every_function_says_the_same_of_an_unknown_trigger(
    conn: psycopg.Connection[Any], call: str
) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(call)
    diag = info.value.diag
    # PL/Python names the exception class before every message it raises (clients drop it)
    message = (diag.message_primary or "").removeprefix("plpy.Error: ")
    assert (info.value.sqlstate, message, diag.message_hint) == (
        "MP101", 'motion trigger "nope" does not exist', UNKNOWN_TRIGGER_HINT,
    )  # fmt: skip


# -- item 3: motion.runs.job_ids


def _kept_ids(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Runs that still hold event ids, and the bytes those take."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(pg_column_size(job_ids)), 0)::bigint FROM motion.runs"
        " WHERE job_ids IS NOT NULL"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_finished_runs_keep_no_event_ids_after_a_prune(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """Each round fits 200 events in 20 runs; the worker's prune step (motion.prune) leaves no
    finished run holding its events' ids, while every reader of the events still finds them."""
    create_tally(conn, "tally", "fit_batch = 10")
    kept = []
    for _ in range(3):
        conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 200) g")
        Worker(dsn, poll_interval=0.05).run(once=True)
        assert _kept_ids(conn)[0] == 20  # what the round's runs held until the prune
        psycopg.RawCursor(conn).execute(query("prune"), [None, False, 1000])
        kept.append(_kept_ids(conn))
    assert kept == [(0, 0)] * 3
    assert conn.execute("SELECT count(*) FROM motion.runs").fetchone() == (60,)
    # the readers: the events that built a version (lineage, replay), the job history
    newest = conn.execute("SELECT max(version) FROM motion.versions").fetchone()
    assert newest is not None
    built = conn.execute("SELECT count(*) FROM motion.version_events('tally', %s)", newest)
    assert built.fetchone() == (10,)
    assert conn.execute(
        "SELECT count(*) FROM motion.job_history WHERE state = 'done' AND run_id IS NOT NULL"
    ).fetchone() == (600,)


def test_a_prune_leaves_a_running_run_its_event_ids(conn: psycopg.Connection[Any]) -> None:
    create_tally(conn, "tally", "fit_batch = 10")
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 30) g")
    claimed = (
        psycopg.RawCursor(conn)
        .execute(query("claim_jobs"), ["w", 30.0, 10, [], "{}", 10, 1 << 30])
        .fetchall()
    )
    assert len(claimed) == 10
    psycopg.RawCursor(conn).execute(query("prune"), [None, False, 1000])
    assert _kept_ids(conn)[0] == 1
    moved = psycopg.RawCursor(conn).execute(query("complete_jobs"), [claimed[0][0]]).fetchall()
    assert sorted(r[0] for r in moved) == sorted(r[2] for r in claimed)


# -- item 4: experiments made before 0.5


@pytest.fixture
def direct(pg_cluster: Cluster) -> Iterator[psycopg.Connection[Any]]:
    """A database with motion applied directly (not as an extension: its scripts may be re-run)."""
    name = f"motion_debts_{uuid.uuid4().hex[:10]}"
    janitor = _janitor(pg_cluster, name)
    janitor.init()
    try:
        with psycopg.connect(pg_cluster.dsn(name), autocommit=True) as conn:
            install(conn, IMPORT_PATHS, extension=False)
            yield conn
    finally:
        janitor.drop()


def _experiments(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, label text,"
                 " score real)")  # fmt: skip
    for name, cls, tail in [
        ("a", "Baseline", ""),
        ("b", "Variant", "SHADOW OF a"),
        ("c", "Variant", "CANARY OF a (30)"),
        ("d" * 50, "Variant", "SHADOW OF a"),  # a name past the 63-byte limit
    ]:
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER {name} ON items {tail}"
                          f" USING '{APPS}:{cls}'")  # fmt: skip


def _made(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    """The Postgres triggers motion made (name, table, when, enabled, arguments), and the routes'
    records of them."""
    triggers = conn.execute(
        "SELECT tgname, tgrelid::regclass::text, tgtype, tgenabled, tgargs FROM pg_trigger"
        " WHERE NOT tgisinternal ORDER BY tgname"
    ).fetchall()
    routes = conn.execute(
        "SELECT trigger_name, ordinal, ARRAY(SELECT t FROM unnest(pg_triggers) t ORDER BY t)"
        " FROM motion.routes ORDER BY 1, 2"
    ).fetchall()
    return triggers, routes


def _as_made_before_0_5(conn: psycopg.Connection[Any]) -> None:
    """What 0.4 left of the same experiments: no canary salt, no statement triggers (nor the
    index this release adds)."""
    for table, name in conn.execute(
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname ~ '_shadow_(begin|end)$'"
    ).fetchall():
        conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(name), sql.SQL(table)))
    conn.execute("UPDATE motion.routes SET pg_triggers = ARRAY(SELECT t FROM unnest(pg_triggers) t"
                 " WHERE t !~ '_shadow_(begin|end)$')")  # fmt: skip
    conn.execute("UPDATE motion.experiments SET salt = NULL")
    conn.execute("DROP INDEX motion.runs_finished_with_job_ids")


def _upgrade_step(conn: psycopg.Connection[Any]) -> None:
    """The part of the generated 0.4 → 0.5 upgrade that concerns them: this change's incremental
    file, then the idempotent files, in the order the upgrade script runs them."""
    step = (sql_dir() / "incremental" / "0.5" / "280-debts.sql").read_text(encoding="utf-8")
    conn.execute(ext._for(step, "direct"))
    conn.execute(ext._for(ext._idempotent(ext.current_version()), "direct"))


def test_experiments_made_before_0_5_are_upgraded_to_what_0_5_makes(
    direct: psycopg.Connection[Any],
) -> None:
    conn = direct
    _experiments(conn)
    fresh = _made(conn)
    assert any(name.endswith("_shadow_begin") for name, *_ in fresh[0])
    _as_made_before_0_5(conn)
    assert _made(conn) != fresh
    _upgrade_step(conn)
    assert _made(conn) == fresh  # the same statement triggers, enabled alike, recorded alike
    salt = conn.execute("SELECT salt FROM motion.experiments WHERE kind = 'canary'").fetchone()
    assert salt is not None and re.fullmatch(r"[0-9a-f]{32}", salt[0]), salt
    # and it behaves as a fresh one: one INSERT of shadow records per statement and side, the
    # canary serving the rows its salt puts in its 30 %
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 300) g")
    assert commands(conn, "b") == [300] and commands(conn, "d" * 50) == [300]
    served = {r[0] for r in conn.execute("SELECT id FROM items WHERE score = 0.5")}
    assert served == {i for i in range(1, 301) if in_canary({"id": i}, 30, salt[0])}
    assert 0 < len(served) < 300
    # a second upgrade (the idempotent files re-applied) changes nothing
    conn.execute(ext._for(ext._idempotent(ext.current_version()), "direct"))
    assert _made(conn) == fresh


@pytest.mark.parametrize("name", ["a", "x" * 40, "y" * 41, "z" * 60, "é" * 30])
def test_the_route_trigger_names_of_the_upgrade_are_the_compilers(
    conn: psycopg.Connection[Any], name: str
) -> None:
    for kind in ("shadow_begin", "shadow_end", "infer"):
        row = conn.execute("SELECT motion._route_trigger_name(%s, 3, %s)", [name, kind]).fetchone()
        assert row == (pg_trigger_name(name, 3, kind),)


# -- item 5: the dashboard on a managed install


def test_the_dashboard_shows_state_values_on_a_managed_install(
    managed: psycopg.Connection[Any], owner_dsn: str
) -> None:
    managed.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, note text,"
                    " doubled int, seen_version int, batch_size int)")  # fmt: skip
    motion_pg.execute(managed, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler'")  # fmt: skip
    managed.execute("INSERT INTO items (value) VALUES (4), (5)")
    Worker(owner_dsn).run(once=True)
    board = Dashboard(owner_dsn)
    try:
        status, page = board.request("GET", "/triggers/counter/versions/2")
    finally:
        board.stop()
    assert status == 200, page
    assert "pickled" not in page and "pickle" not in page, page
    # the values as `motion-pg state show` prints them: count 2, values [4, 5]
    text = re.sub(r"<[^>]+>|\s+", "", page)
    assert "[4,5]" in text and "count" in text, page
