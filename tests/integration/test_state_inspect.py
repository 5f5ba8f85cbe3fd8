"""State you can see and wait for: motion.state, motion.wait_for_fits and their CLI commands."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

from .conftest import motion_pg_cli

APPS = "motion_test_apps.inspected"


def run_worker(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


@pytest.fixture
def varied(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, seen_version int)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER varied ON items USING '{APPS}:Varied'")


def state_of(conn: psycopg.Connection[Any], *args: Any) -> dict[str, Any]:
    if len(args) == 1:
        row = conn.execute("SELECT motion.state(%s)", args).fetchone()
    else:
        row = conn.execute("SELECT motion.state(%s, %s)", args).fetchone()
    assert row is not None
    return dict(row[0])


def test_state_renders_json_values_and_describes_the_rest(
    conn: psycopg.Connection[Any], varied: None
) -> None:
    rendered = state_of(conn, "varied")
    assert rendered["trigger"] == "varied" and rendered["version"] == 1
    keys = rendered["keys"]
    assert keys["count"] == 0 and keys["name"] == "varied"
    assert keys["nested"] == {"a": [1, 2.5, None, True]}
    assert keys["weights"] == [1.0, 2.0, 3.0]
    assert keys["scale"] == 0.5
    model = keys["model"]
    assert model["type"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert model["summary"].startswith("LogisticRegression(") and model["bytes"] > 100
    big = keys["big"]
    assert big["type"] == "numpy.ndarray" and big["bytes"] > 5000 * 8


def test_state_of_a_version(conn: psycopg.Connection[Any], dsn: str, varied: None) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1), (2), (3)")
    run_worker(dsn)
    assert state_of(conn, "varied")["keys"]["count"] == 3
    assert state_of(conn, "varied")["version"] == 2
    old = state_of(conn, "varied", 1)
    assert old["version"] == 1 and old["keys"]["count"] == 0


def test_state_refuses_unknown_trigger_and_version(
    conn: psycopg.Connection[Any], varied: None
) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT motion.state('nosuch')")
    assert info.value.sqlstate == "MP101" and '"nosuch" does not exist' in str(info.value)
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT motion.state('varied', 7)")
    assert info.value.sqlstate == "MP100" and "has no version 7" in str(info.value)


def test_state_show_cli(dsn: str, varied: None) -> None:
    table = motion_pg_cli("state", "show", "varied", dsn=dsn).stdout
    assert "model" in table and "LogisticRegression" in table and "count" in table
    one = motion_pg_cli("state", "show", "varied", "weights", "--json", dsn=dsn).stdout
    assert json.loads(one) == [1.0, 2.0, 3.0]
    whole = json.loads(motion_pg_cli("state", "show", "varied", "--json", "--version", "1",
                                     dsn=dsn).stdout)  # fmt: skip
    assert whole["version"] == 1 and whole["keys"]["count"] == 0
    missing = motion_pg_cli("state", "show", "varied", "nokey", dsn=dsn, check=False)
    assert missing.returncode != 0 and "no key 'nokey'" in missing.stderr


# -- wait_for_fits -----------------------------------------------------------------------------


def test_wait_for_fits_returns_once_a_worker_started_after_the_call_fitted(
    conn: psycopg.Connection[Any], dsn: str, varied: None
) -> None:
    conn.execute("INSERT INTO items (value) SELECT generate_series(1, 5)")
    result: list[Any] = []

    def wait() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            row = c.execute("SELECT motion.wait_for_fits('varied', '60 s')").fetchone()
            result.append(row[0] if row else None)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and not result  # nothing fitted yet: it waits
    run_worker(dsn)
    waiter.join(30)
    assert result == [True]
    assert state_of(conn, "varied")["keys"]["count"] == 5


def test_wait_for_fits_times_out_and_cli_reports_pending(
    conn: psycopg.Connection[Any], dsn: str, varied: None
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    started = time.monotonic()
    row = conn.execute("SELECT motion.wait_for_fits('varied', '0.3 s')").fetchone()
    assert row is not None and row[0] is False
    assert 0.25 < time.monotonic() - started < 5
    out = motion_pg_cli("wait", "varied", "--timeout", "0.3", dsn=dsn, check=False)
    assert out.returncode == 1 and "1 pending" in out.stdout + out.stderr
    run_worker(dsn)
    out = motion_pg_cli("wait", "--timeout", "5", dsn=dsn)
    assert out.returncode == 0 and "fitted" in out.stdout


def test_wait_for_fits_names_dead_jobs(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, seen_version int)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER failing ON items USING '{APPS}:FailingFit'"
        " WITH (max_attempts = 1, retry_delay = 0)",
    )
    conn.execute("INSERT INTO items (value) VALUES (1)")
    run_worker(dsn)
    dead = conn.execute("SELECT id FROM motion.jobs WHERE state = 'dead'").fetchall()
    assert len(dead) == 1
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT motion.wait_for_fits(NULL, '5 s')")
    assert info.value.sqlstate == "MP400"
    assert f"failing has dead fit jobs that will not be fitted: ids {dead[0][0]}" in str(info.value)
    out = motion_pg_cli("wait", "failing", dsn=dsn, check=False)
    assert out.returncode == 1 and "dead" in out.stderr and str(dead[0][0]) in out.stderr


def test_wait_for_fits_refuses_unknown_trigger(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT motion.wait_for_fits('nosuch')")
    assert info.value.sqlstate == "MP101"


# -- PIN VERSION / UNPIN -----------------------------------------------------------------------

COUNTER = "motion_test_apps.basic:Counter"


def insert_seen(conn: psycopg.Connection[Any], value: int) -> int:
    row = conn.execute(
        "INSERT INTO items (value) VALUES (%s) RETURNING seen_version", [value]
    ).fetchone()
    assert row is not None
    return int(row[0])


def serving_and_pin(conn: psycopg.Connection[Any]) -> tuple[int, int | None]:
    row = conn.execute(
        "SELECT serving_version, pinned_version FROM motion.trigger_status WHERE name = 'counter'"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_pin_serves_the_pinned_version_while_fits_build_behind(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int, doubled int, seen_version int)"
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER counter ON items USING '{COUNTER}'")
    with psycopg.connect(dsn, autocommit=True) as held:  # a pooled connection, loaded before PIN
        conn.execute("INSERT INTO items (value) VALUES (1), (2)")
        run_worker(dsn)
        assert insert_seen(held, 3) == 2
        run_worker(dsn)  # version 3: count 3
        assert motion_pg.execute(conn, "ALTER MOTION TRIGGER counter PIN VERSION 2") == [
            "ALTER MOTION TRIGGER counter PIN VERSION 2"
        ]
        assert serving_and_pin(conn) == (2, 2)
        assert insert_seen(held, 4) == 2  # the held connection reloads: served version 2
        run_worker(dsn)  # version 4 folds onto version 3 (the newest), not onto the pinned 2
        assert insert_seen(held, 5) == 2 and insert_seen(conn, 6) == 2
        assert serving_and_pin(conn) == (2, 2)
        newest = conn.execute(
            "SELECT version, parent_version, serving FROM motion.version_history"
            " WHERE trigger_name = 'counter' ORDER BY version DESC LIMIT 1"
        ).fetchone()
        assert newest == (4, 3, False)
        assert state_of(conn, "counter", 4)["keys"]["count"] == 4
        assert state_of(conn, "counter")["version"] == 2
        shown = motion_pg.execute(conn, "SHOW MOTION TRIGGERS")[0]
        assert "2 (pinned)" in shown

        with pytest.raises(motion_pg.errors.DefinitionError, match="is pinned to version 2"):
            motion_pg.execute(conn, "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 1")
        with pytest.raises(motion_pg.errors.DefinitionError, match="has no version 99"):
            motion_pg.execute(conn, "ALTER MOTION TRIGGER counter PIN VERSION 99")

        run_worker(dsn)  # the two rows inserted while pinned: version 5 behind the pin
        assert motion_pg.execute(conn, "ALTER MOTION TRIGGER counter UNPIN") == [
            "ALTER MOTION TRIGGER counter UNPIN (version 5)"
        ]
        assert serving_and_pin(conn) == (5, None)
        assert insert_seen(held, 7) == 5  # UNPIN serves the newest
        run_worker(dsn)
        assert serving_and_pin(conn) == (6, None)  # and fits are served again
        assert insert_seen(held, 8) == 6
        assert state_of(conn, "counter")["keys"]["count"] == 7


def test_set_and_refit_while_pinned_are_built_behind_the_pin(
    conn: psycopg.Connection[Any], dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int, doubled int, seen_version int)"
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER counter ON items USING '{COUNTER}'")
    conn.execute("INSERT INTO items (value) VALUES (1)")
    run_worker(dsn)  # version 2
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter PIN VERSION 1")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (note = 'x')")  # version 3
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter REFIT")  # version 4
    history = conn.execute(
        "SELECT version, source, parent_version, serving FROM motion.version_history"
        " WHERE trigger_name = 'counter' ORDER BY version"
    ).fetchall()
    assert history[2:] == [(3, "params", 2, False), (4, "refit", 3, False)]
    assert serving_and_pin(conn) == (1, 1) and insert_seen(conn, 2) == 1
    monkeypatch.setenv("COLUMNS", "300")
    assert "1 (pinned)" in motion_pg_cli("status", dsn=dsn).stdout
    # a new definition is not held by the old one's pin
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER counter ON items USING '{COUNTER}'")
    assert serving_and_pin(conn) == (5, None) and insert_seen(conn, 3) == 5
