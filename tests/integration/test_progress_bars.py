"""Progress bars with rate and ETA on long work: `motion-pg refit` (rows setup reads; and its JSON),
`motion-pg backfill`, `motion-pg replay` (timed against the original fit)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import psycopg

import motion_pg

from .conftest import ROOT, motion_pg_cli, state

ROWS = 25_000


def _items(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int)")
    motion_pg.execute(conn, "CREATE MOTION TRIGGER d ON items USING 'motion_test_apps.obs:Doubler'")
    conn.execute("INSERT INTO items (value) SELECT g %% 10 FROM generate_series(1, %s) g", [ROWS])


def test_refit_json_counts_the_rows_setup_read(conn: psycopg.Connection[Any], dsn: str) -> None:
    _items(conn)
    out = json.loads(motion_pg_cli("refit", "d", "--json", dsn=dsn).stdout)
    assert out["trigger"] == "d" and out["version"] == 2
    assert out["status"] == "ALTER MOTION TRIGGER d REFIT (version 2)"
    # setup read every row once; the compiler's own catalog reads add a few
    assert ROWS <= out["rows_read"] < ROWS + 100
    assert state(conn, "d")["count"] == ROWS
    source = conn.execute("SELECT source FROM motion.versions WHERE trigger_name = 'd'"
                          " AND version = 2").fetchone()  # fmt: skip
    assert source == ("refit",)


def test_refit_shows_a_bar_on_a_terminal(conn: psycopg.Connection[Any], dsn: str) -> None:
    _items(conn)
    conn.execute("ANALYZE items")  # the bar's total is the planner's estimate
    # rich draws on a terminal only; FORCE_COLOR makes it draw into the pipe
    env = {**os.environ, "MOTION_DSN": dsn, "FORCE_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-m", "motion_pg.cli", "refit", "d"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)  # fmt: skip
    assert "ALTER MOTION TRIGGER d REFIT (version 2)" in done.stdout
    assert "rows read in" in done.stdout
    bar = done.stderr
    assert "refitting d" in bar and "rows/s" in bar and "ETA" in bar, bar
    assert f"0/{ROWS}" in bar, bar  # the estimate, before setup read anything
    final = re.findall(r"(\d+)/(\d+)", bar)[-1]  # the last frame: every row read, a full bar
    assert final[0] == final[1] and int(final[0]) >= ROWS, bar


def test_refit_names_an_unknown_trigger(dsn: str) -> None:
    failed = motion_pg_cli("refit", "nope", "--json", dsn=dsn, check=False)
    assert failed.returncode == 1
    assert 'motion trigger "nope" does not exist' in failed.stderr


def test_replay_shows_a_bar_timed_against_the_original_fit(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    from motion_pg.testing import fit_pending

    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int)")
    motion_pg.execute(conn, "CREATE MOTION TRIGGER d ON items USING 'motion_test_apps.obs:Doubler'")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 50) g")
    fit_pending(conn, "d")
    env = {**os.environ, "MOTION_DSN": dsn, "FORCE_COLOR": "1", "COLUMNS": "160"}
    done = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", "replay", "d", "--version", "2"], env=env,
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the original took" in done.stderr and "ETA" in done.stderr, done.stderr
    assert "fitting 50 event(s)" in done.stderr, done.stderr  # replay's own line, on the bar


def test_backfill_shows_a_bar_on_a_terminal(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int)")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 3000) g")
    motion_pg.execute(conn, "CREATE MOTION TRIGGER d ON items USING 'motion_test_apps.obs:Doubler'")
    env = {**os.environ, "MOTION_DSN": dsn, "FORCE_COLOR": "1", "COLUMNS": "160"}
    done = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", "backfill", "d", "--chunk", "500"], env=env,
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    bar = done.stdout + done.stderr
    assert "backfilling d" in bar and "rows/s" in bar and "ETA" in bar, bar
    assert "3000/3000" in bar.replace(",", ""), bar
