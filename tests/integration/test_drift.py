"""Drift profiles with real workers: a drifting stream makes on_drift = 'refit' rebuild the state
(and the reference); a poisoned stream under on_drift = 'pause' is held unfitted; FIT WHEN
(DRIFT > x) fits once the stream drifted; motion.drift, motion.drift_pin and `motion-pg drift`
show the same figures."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg

import motion_pg

from .conftest import motion_pg_cli, state
from .test_reliability import start_worker, wait_until
from .test_reliability import workers as workers  # the fixture

APP = "motion_test_apps.policies:Mean"
READINGS = (
    "CREATE TABLE readings (id serial PRIMARY KEY, value float8, label text, predicted float8)"
)


def normal(conn: psycopg.Connection[Any], n: int) -> None:
    """Rows like the reference: values in [0, 1), labels a or b. Seeded: unseeded samples of
    one distribution differ at p < 0.05 in one test of twenty, and this stream must not drift."""
    conn.execute("SELECT pg_catalog.setseed(0.25)")
    conn.execute(
        "INSERT INTO readings (value, label) SELECT random(),"
        " CASE WHEN random() < 0.5 THEN 'a' ELSE 'b' END FROM generate_series(1, %s)",
        [n],
    )


def shifted(conn: psycopg.Connection[Any], n: int, low: float = 3.0, label: str = "c") -> None:
    conn.execute(
        "INSERT INTO readings (value, label) SELECT %s + random(), %s FROM generate_series(1, %s)",
        [low, label, n],
    )


def pending(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM motion.jobs WHERE trigger_name = %s AND state = 'pending'", [name]
    ).fetchone()
    return int(row[0]) if row else 0


def figures(conn: psycopg.Connection[Any], name: str) -> dict[str, dict[str, Any]]:
    cur = conn.execute("SELECT * FROM motion.drift WHERE trigger_name = %s", [name])
    names = [d.name for d in cur.description or ()]
    return {r[names.index("column_name")]: dict(zip(names, r, strict=True)) for r in cur}


def test_drifting_stream_triggers_a_refit(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    normal(conn, 300)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings (value, label) USING '{APP}'"
        " WITH (on_drift = 'refit', drift_window = 200)",
    )
    reference = conn.execute(
        "SELECT column_name, kind, source, (profile ->> 'count')::int FROM motion.drift_profiles"
        " WHERE trigger_name = 'm' AND side = 'reference' ORDER BY column_name"
    ).fetchall()
    # built at setup from the rows setup saw; `predicted` is profiled too (an output column)
    assert reference == [
        ("label", "categorical", "setup", 300),
        ("predicted", "numeric", "setup", 300),
        ("value", "numeric", "setup", 300),
    ]
    workers.append(start_worker(dsn))
    normal(conn, 200)  # no drift: fitted, no refit
    wait_until(lambda: state(conn, "m")["count"] == 500, 30)
    wait_until(lambda: "value" in figures(conn, "m"), 30)
    assert not figures(conn, "m")["value"]["drifted"]
    assert conn.execute(
        "SELECT count(*) FROM motion.versions WHERE source = 'refit'"
    ).fetchone() == (0,)
    shifted(conn, 200)
    wait_until(
        lambda: (
            conn.execute("SELECT count(*) FROM motion.versions WHERE source = 'refit'").fetchone()
            == (1,)
        ),
        60,
    )
    job = conn.execute(
        "SELECT row_data ->> 'reason', state FROM motion.job_history WHERE op = 'REFIT'"
    ).fetchone()
    assert job is not None and job[0].startswith("drift:"), job
    wait_until(lambda: pending(conn, "m") == 0, 30)
    # the refit rebuilt the state over all rows, and the reference from the data it saw
    assert state(conn, "m")["count"] >= 700
    sources = conn.execute(
        "SELECT DISTINCT source FROM motion.drift_profiles WHERE side = 'reference'"
    ).fetchall()
    assert sources == [("refit",)]


def test_poisoned_stream_pauses_fit(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    normal(conn, 300)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings (value, label) USING '{APP}'"
        " WITH (on_drift = 'pause', drift_window = 100)",
    )
    workers.append(start_worker(dsn))
    normal(conn, 100)
    wait_until(lambda: state(conn, "m")["count"] == 400, 30)
    shifted(conn, 100, low=1e6, label="poison")
    wait_until(
        lambda: conn.execute("SELECT drifted FROM motion.drift_status").fetchone() == (True,), 30
    )
    time.sleep(2.0)  # ten poll intervals: the poisoned events stay pending, the state untouched
    assert pending(conn, "m") == 100
    assert state(conn, "m")["count"] == 400
    shown = figures(conn, "m")
    assert shown["value"]["drifted"] and shown["label"]["drifted"], shown
    assert shown["value"]["since"] is not None and shown["value"]["statistic"] == "ks_p_value"
    assert shown["value"]["value"] < 0.05 == shown["value"]["threshold"]
    assert shown["label"]["statistic"] == "chi2_p_value"
    # the CLI says the same
    out = json.loads(motion_pg_cli("drift", "m", "--json", dsn=dsn).stdout)
    assert out["drifted"] is True and out["share"] == 1.0
    value = next(c for c in out["columns"] if c["column_name"] == "value")
    assert value["drifted"] is True and value["threshold"] == 0.05
    # accepting the new data as normal (pinning it) resumes fitting
    assert conn.execute("SELECT motion.drift_pin('m')").fetchone() == (3,)
    ok = False
    try:
        wait_until(lambda: state(conn, "m")["count"] == 500, 30)
        ok = True
    finally:
        if not ok:
            print("FIG", figures(conn, "m"))
            print("STATUS", conn.execute("SELECT * FROM motion.drift_status").fetchall())
            print(
                "JOBS",
                conn.execute("SELECT state, count(*) FROM motion.jobs GROUP BY 1").fetchall(),
            )
    wait_until(lambda: state(conn, "m")["count"] == 500, 30)


def test_fit_when_drift_waits_for_a_drift(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    normal(conn, 300)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings (value, label) FIT WHEN (DRIFT > 0.4)"
        f" USING '{APP}' WITH (drift_window = 100)",
    )
    workers.append(start_worker(dsn))
    normal(conn, 100)
    wait_until(lambda: "value" in figures(conn, "m"), 30)
    time.sleep(1.0)
    assert pending(conn, "m") == 100  # no drift: held
    shifted(conn, 100)
    wait_until(lambda: state(conn, "m")["count"] == 500, 60)


def test_cli_pin_and_table(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(READINGS)
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER m ON readings (value, label) USING '{APP}'")
    # on_drift is off and the relation was empty: no reference; the CLI says how to get one
    out = motion_pg_cli("drift", "m", dsn=dsn).stdout
    assert "no drift figures yet" in out and "--pin" in out
    normal(conn, 100)
    out = motion_pg_cli("drift", "m", "--pin", dsn=dsn).stdout
    assert "no drift" in out and "value" in out and "ks_p_value" in out, out
    missing = motion_pg_cli("drift", "nope", dsn=dsn, check=False)
    assert missing.returncode != 0 and 'motion trigger "nope" does not exist' in missing.stderr


def test_alter_on_drift_builds_a_reference_once(conn: psycopg.Connection[Any]) -> None:
    conn.execute(READINGS)
    normal(conn, 50)
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER m ON readings (value, label) USING '{APP}'")
    count = "SELECT count(*), min(source) FROM motion.drift_profiles WHERE side = 'reference'"
    assert conn.execute(count).fetchone() == (0, None)  # on_drift is off: nothing profiled
    motion_pg.execute(conn, "ALTER MOTION TRIGGER m SET (on_drift = 'alert')")
    assert conn.execute(count).fetchone() == (3, "alter")
    built = conn.execute("SELECT max(built_at) FROM motion.drift_profiles").fetchone()
    motion_pg.execute(conn, "ALTER MOTION TRIGGER m SET (on_drift = 'pause')")
    assert conn.execute("SELECT max(built_at) FROM motion.drift_profiles").fetchone() == built
    motion_pg.execute(conn, "ALTER MOTION TRIGGER m REFIT")
    assert conn.execute(count).fetchone() == (3, "refit")
