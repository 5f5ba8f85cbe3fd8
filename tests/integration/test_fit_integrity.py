"""Fit integrity: fit's writes commit with its version or not at all, fit sees the Python values
infer sees, one trigger's bad fit never stops another, a state that cannot load is never served,
and user SQL in fit runs with the trigger's recorded search_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

from .conftest import state

APPS = "motion_test_apps.integrity"


def run_worker(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


def serving(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute("SELECT serving_version FROM motion.triggers WHERE name = %s", [name])
    found = row.fetchone()
    assert found is not None
    return int(found[0])


# -- item 8: the fit's database writes are part of the fit --------------------------------------


def _writer_trigger(conn: psycopg.Connection[Any], params: str) -> None:
    conn.execute("CREATE TABLE src (id serial PRIMARY KEY, value int)")
    conn.execute("CREATE TABLE fit_log (event_row int NOT NULL)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER writer ON src USING '{APPS}:WritesThenFails'"
        f" WITH (retry_delay = 0, {params})",
    )


def test_a_retried_fit_leaves_its_writes_once(conn: psycopg.Connection[Any], dsn: str) -> None:
    _writer_trigger(conn, "max_attempts = 3")
    conn.execute("INSERT INTO src (value) VALUES (1)")
    assert run_worker(dsn) == 2  # the first attempt wrote, then failed; the second succeeded
    assert conn.execute("SELECT event_row FROM fit_log").fetchall() == [(1,)]
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)
    assert conn.execute("SELECT attempts FROM motion.job_log").fetchone() == (2,)
    assert state(conn, "writer")["count"] == 1


def test_a_fit_killed_by_its_timeout_leaves_no_writes(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Path
) -> None:
    marker = tmp_path / "wrote"
    _writer_trigger(conn, f"max_attempts = 1, fit_timeout = 4, sleep = 60, marker = '{marker}'")
    conn.execute("INSERT INTO src (value) VALUES (1)")
    run_worker(dsn)
    assert marker.read_text() == "wrote 1\n"  # the fit had written when it was killed
    job = conn.execute("SELECT state, errors -> -1 ->> 'error' FROM motion.jobs").fetchone()
    assert job is not None and job[0] == "dead" and "timed out" in job[1]
    assert conn.execute("SELECT count(*) FROM fit_log").fetchone() == (0,)
    assert serving(conn, "writer") == 1


# -- item 9: setup, infer and fit see the same Python values -------------------------------------

COLUMNS = """
    i2 int2, i4 int4, i8 int8, f4 float4, f4_tenth float4, f8 float8, f8_whole float8,
    f8_nan float8, f8_inf float8, f8_ninf float8, num numeric, n_nan numeric, n_inf numeric,
    n_big numeric, b bool, by bytea, by_empty bytea, txt text, vc varchar(5), ch char(5),
    jb jsonb, jb_str jsonb, js json, d date, tm time, tmtz timetz, ts timestamp,
    tstz timestamptz, iv interval, u uuid, ip inet, net cidr, mac macaddr, a_int int4[],
    a_empty int4[], a_text text[], a_2d int4[], a_f8 float8[], a_f4 float4[], a_jb jsonb[],
    a_by bytea[], a_num numeric[], a_date date[], comp pair, a_comp pair[], m mood, a_m mood[],
    r int4range, bits bit(3), cash money, tsv tsvector, pt point, dom posint, a_dom posint[],
    nul text, o oid, x xml, c1 "char"
"""

VALUES = """
    1, 2, 3, 1.5, 0.1, 0.1, 1.0, 'NaN', 'Infinity', '-Infinity', 1.50, 'NaN', 'Infinity',
    12345678901234567890.123456789, true, '\\x00ff00', '', 'héllo', 'abc', 'ab',
    '{"a": [1, 2.50, null], "b": {"c": "d"}}', '"just a string"', '{"k": [1, 2.0]}',
    '2024-02-29', '13:14:15.5', '13:14:15+02', '2024-02-29 13:14:15.123456',
    '2024-02-29 13:14:15+00', '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '{1,NULL,3}', '{}', '{"a",NULL,"b c"}',
    '{{1,2},{3,4}}', '{1.0,NaN,-Infinity}', '{0.1,1}', ARRAY['{"k": 1}'::jsonb],
    ARRAY['\\x00'::bytea, NULL], '{1.10,NaN}', '{2024-01-01}', ROW(1, 'x', '{"z": true}'),
    ARRAY[ROW(2, 'y', NULL)::pair], 'happy', '{sad,happy}', '[1,5)', B'101', 12.34,
    'a fat cat', '(1,2)', 7, '{7,8}', NULL, 42, '<a>1</a>', 'x'
"""


def _probe(conn: psycopg.Connection[Any], source: str) -> dict[str, set[tuple[str, str]]]:
    """Per column, the (type, repr) pairs ``source`` saw (one per row)."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for col, typ, rep in conn.execute(
        "SELECT col, type, repr FROM probe WHERE source = %s", [source]
    ):
        seen.setdefault(col, set()).add((typ, rep))
    return seen


def _differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {c: (a.get(c), b.get(c)) for c in a.keys() | b.keys() if a.get(c) != b.get(c)}


def test_fit_sees_the_values_infer_and_setup_see(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    conn.execute("CREATE TYPE pair AS (a int, b text, j jsonb)")
    conn.execute("CREATE DOMAIN posint AS int CHECK (VALUE > 0)")
    conn.execute(f"CREATE TABLE typed (id serial PRIMARY KEY, {COLUMNS})")
    conn.execute("CREATE TABLE typed_ref (LIKE typed)")
    conn.execute("CREATE TABLE probe (source text, col text, type text, repr text)")
    vector = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if vector:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for table in ("typed", "typed_ref"):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN vec vector(3), ADD COLUMN a_vec vector[]")
    extra = ", '[1,2.5,3]', ARRAY['[1,2,3]'::vector]" if vector else ""
    conn.execute(f"INSERT INTO typed_ref VALUES (0, {VALUES}{extra})")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER probe ON typed USING '{APPS}:TypeProbe'")
    conn.execute(f"INSERT INTO typed VALUES (DEFAULT, {VALUES}{extra})")
    conn.execute("INSERT INTO typed (id) VALUES (DEFAULT)")  # every column NULL
    run_worker(dsn)

    infer, fit = _probe(conn, "infer"), _probe(conn, "fit")
    assert len(infer) == len(COLUMNS.split(",")) + 1 + (2 if vector else 0)
    assert _differences(infer, fit) == {}
    # what PL/Python gives, spelled out for the types people trip on
    null = ("NoneType", "None")
    assert infer["by"] == {("bytes", repr(b"\x00\xff\x00")), null}
    assert infer["num"] == {("Decimal", "Decimal('1.50')"), null}
    assert infer["f8_whole"] == {("float", "1.0"), null}
    assert infer["f8_nan"] == {("float", "nan"), null}
    assert ("str", repr('{"a": [1, 2.50, null], "b": {"c": "d"}}')) in infer["jb"]
    assert {t for t, _ in infer["comp"]} == {"dict", "NoneType"}
    assert infer["a_empty"] == {("list", "[]"), null} and infer["dom"] == {("int", "7"), null}
    setup_db, infer_db, fit_db = (_probe(conn, s) for s in ("setup_db", "infer_db", "fit_db"))
    assert _differences(setup_db, infer_db) == {}
    assert _differences(infer_db, fit_db) == {}


# -- items 12 and 13: one trigger's bad fit is its own failure; an unloadable state never serves -


@pytest.mark.parametrize(
    ("cls", "error"),
    [
        ("BadKeys", "fit returned the state key 1 (int); state keys must be strings"),
        ("NotADict", "fit must return a dict of state updates, got list"),
        ("Unloadable", 'state value "model" pickles but cannot be unpickled: RuntimeError: '
         "this state value cannot be loaded"),
    ],
)  # fmt: skip
def test_a_bad_fit_goes_dead_while_another_trigger_keeps_fitting(
    conn: psycopg.Connection[Any], dsn: str, cls: str, error: str
) -> None:
    conn.execute("CREATE TABLE bad_src (id serial PRIMARY KEY, value int NOT NULL)")
    conn.execute("CREATE TABLE good_src (id serial PRIMARY KEY, value int NOT NULL)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER bad ON bad_src USING '{APPS}:{cls}'"
        " WITH (max_attempts = 2, retry_delay = 0)",
    )
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER good ON good_src USING 'motion_test_apps.chaos:Tally'"
    )
    conn.execute("INSERT INTO bad_src (value) VALUES (1)")
    conn.execute("INSERT INTO good_src (value) VALUES (1), (2)")
    worker = Worker(dsn, poll_interval=0.05)
    assert worker.run(once=True) == 3  # two failed attempts of bad, one fit of good
    conn.execute("INSERT INTO good_src (value) VALUES (3)")
    assert worker.run(once=True) == 1  # the same worker object goes on fitting
    row = conn.execute(
        "SELECT state, attempts, errors -> -1 ->> 'error' FROM motion.jobs"
        " WHERE trigger_name = 'bad'"
    ).fetchone()
    assert row is not None and row[:2] == ("dead", 2)
    assert f'motion trigger "bad": {error}' in row[2]
    assert serving(conn, "bad") == 1  # state untouched: infer keeps serving version 1
    assert state(conn, "good")["ids"] == [1, 2, 3]


def test_a_failure_outside_user_code_is_the_runs_failure(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """A class that no longer imports, and a route's relation that vanished: the run fails (and
    goes dead), the worker carries on."""
    for name in ("gone_class", "gone_relation", "good"):
        conn.execute(f"CREATE TABLE {name}_src (id serial PRIMARY KEY, value int NOT NULL)")
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER {name} ON {name}_src USING 'motion_test_apps.chaos:Tally'"
            " WITH (max_attempts = 1)",
        )
        conn.execute(f"INSERT INTO {name}_src (value) VALUES (1)")
    conn.execute(
        "UPDATE motion.triggers SET class_ref = 'motion_test_apps.no_such_module:Tally',"
        " revision = nextval('motion.revisions') WHERE name = 'gone_class'"
    )
    conn.execute("DROP TABLE gone_relation_src CASCADE")
    assert run_worker(dsn) == 3
    errors = dict(
        conn.execute(
            "SELECT trigger_name, errors -> -1 ->> 'error' FROM motion.jobs WHERE state = 'dead'"
        ).fetchall()
    )
    assert "no_such_module" in errors["gone_class"]
    assert 'motion trigger "gone_relation"' in errors["gone_relation"]
    assert state(conn, "good")["ids"] == [1]


# -- item 10: user SQL in fit runs with the recorded search_path ---------------------------------


def test_fit_sql_runs_with_the_recorded_search_path(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute('CREATE SCHEMA "App Data"')
    conn.execute('CREATE TABLE "App Data".notes (body text)')
    conn.execute("INSERT INTO \"App Data\".notes VALUES ('existing')")
    conn.execute("CREATE TABLE src (id serial PRIMARY KEY, value int)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER reader ON src USING '{APPS}:ReadsUnqualified'")
    conn.execute("UPDATE motion.triggers SET search_path = '{App Data}' WHERE name = 'reader'")
    conn.execute("INSERT INTO src (value) VALUES (1)")
    assert run_worker(dsn) == 1
    fitted = state(conn, "reader")
    assert fitted["seen"] == ["existing"]
    assert fitted["path"] == '"App Data", pg_temp'
    rows = conn.execute('SELECT body FROM "App Data".notes ORDER BY body').fetchall()
    assert rows == [("existing",), ("from fit",)]


def test_the_workers_own_sql_ignores_the_default_search_path(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """A database default search_path that puts another schema before pg_catalog cannot change
    what the worker's own statements mean (here: a now() that raises)."""
    conn.execute("CREATE SCHEMA shadow")
    conn.execute(
        "CREATE FUNCTION shadow.now() RETURNS timestamptz LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'shadow now() called'; END $$"
    )
    dbname = conn.info.dbname
    conn.execute(f"ALTER DATABASE {dbname} SET search_path = shadow, pg_catalog, public")
    conn.execute("CREATE TABLE src (id serial PRIMARY KEY, value int NOT NULL)")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER tally ON src USING 'motion_test_apps.chaos:Tally'"
    )
    conn.execute("INSERT INTO src (value) VALUES (1), (2)")
    assert run_worker(dsn) == 1
    assert state(conn, "tally")["ids"] == [1, 2]


def test_fit_sql_runs_with_the_path_create_recorded(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """End to end: the creator's search_path, recorded by CREATE, is the one fit's SQL sees (as
    infer's does)."""
    conn.execute('CREATE SCHEMA "App Data"')
    conn.execute('CREATE TABLE "App Data".notes (body text)')
    conn.execute("INSERT INTO \"App Data\".notes VALUES ('existing')")
    conn.execute("CREATE TABLE src (id serial PRIMARY KEY, value int)")
    conn.execute('SET search_path = "App Data", public')
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER reader ON src USING '{APPS}:ReadsUnqualified'")
    conn.execute("RESET search_path")
    recorded = conn.execute("SELECT search_path FROM motion.triggers WHERE name = 'reader'")
    assert recorded.fetchone() == (["App Data", "public"],)
    conn.execute("INSERT INTO src (value) VALUES (1)")
    assert run_worker(dsn) == 1
    assert state(conn, "reader")["path"] == '"App Data", "public", pg_temp'
    assert state(conn, "reader")["seen"] == ["existing"]
