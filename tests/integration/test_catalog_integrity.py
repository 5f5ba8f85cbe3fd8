"""What CREATE and ALTER refuse, record and say (issue 9 items 10, 11c, 12, 14, 16, 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg import errors
from motion_pg.worker import Worker

from .conftest import motion_pg_cli, psql, state

ITEMS = "CREATE TABLE items (id serial PRIMARY KEY, value int, doubled int, seen_version int)"
COUNTER = "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"


@pytest.fixture
def items(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    conn.execute(ITEMS)
    return conn


def notices(conn: psycopg.Connection[Any]) -> list[str]:
    """The NOTICE messages ``conn`` receives from now on."""
    seen: list[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary or ""))
    return seen


def nothing_left(conn: psycopg.Connection[Any]) -> None:
    assert conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'motion%'"
    ).fetchone() == (0,)


# -- item 16: errors keep their class and SQLSTATE through every door --------------------------

# Postgres 15's plpgsql shows a CONTEXT line for RAISE at ERROR level (psql prints it unless
# SHOW_CONTEXT is never): the only one left is motion.exec's own, no PL/Python traceback lines
RAISED = "CONTEXT:  PL/pgSQL function motion.exec(text) line "


def clean_context(stderr: str) -> bool:
    """Whether psql's error output shows no internals beyond motion.exec's RAISE line."""
    context = [ln for ln in stderr.splitlines() if ln.startswith("CONTEXT") or ln.startswith(" ")]
    return "PL/Python" not in stderr and all(ln.startswith(RAISED) for ln in context)


ERRORS = [
    ("ALTER MOTION TRIGGER nope REFIT", errors.UnknownTrigger, 'motion trigger "nope" does not'),
    (COUNTER, errors.DuplicateTrigger, 'motion trigger "counter" already exists'),
    (COUNTER.replace("counter", "c2") + " WITH (fit_batch = 'abc')", errors.InvalidSetting,
     "setting fit_batch must be a positive integer"),
    ("CREATE MOTION TRIGGER c2 ON nowhere USING 'motion_test_apps.basic:Counter'",
     errors.UnknownRelation, 'relation "nowhere" does not exist'),
    ("CREATE MOTION TRIGGER c2 ON items (nocol) USING 'motion_test_apps.basic:Counter'",
     errors.UnknownColumn, 'column "nocol" of relation "items" does not exist'),
    ("CREATE MOTION TRIGGER c2 ON items USING 'motion_test_apps.nomodule:X'",
     errors.UserCodeError, "module 'motion_test_apps.nomodule' not found"),
    ("ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 9", errors.DefinitionError,
     'motion trigger "counter" has no version 9'),
]  # fmt: skip


@pytest.mark.parametrize(("statement", "cls", "message"), ERRORS)
def test_errors_keep_class_and_sqlstate_through_every_door(
    items: psycopg.Connection[Any], dsn: str, tmp_path: Path, statement: str,
    cls: type[errors.MotionError], message: str,
) -> None:  # fmt: skip
    motion_pg.execute(items, COUNTER)
    with pytest.raises(cls) as raised:  # the Python door
        motion_pg.execute(items, statement)
    assert type(raised.value) is cls and raised.value.sqlstate == cls.sqlstate
    assert message in str(raised.value) and "None" not in str(raised.value)

    psql_run = psql(dsn, r"\set VERBOSITY verbose", f"SELECT motion.exec($m${statement}$m$)",
                    check=False)  # fmt: skip
    assert f"ERROR:  {cls.sqlstate}: " in psql_run.stderr and message in psql_run.stderr
    assert "HINT:  None" not in psql_run.stderr and "DETAIL:  None" not in psql_run.stderr
    assert clean_context(psql_run.stderr)

    migration = tmp_path / "m.sql"
    migration.write_text(statement + ";\n")
    cli = motion_pg_cli("apply", str(migration), dsn=dsn, check=False)
    assert cli.returncode != 0 and message in cli.stderr
    assert f"({cls.__name__}, sqlstate {cls.sqlstate})" in cli.stderr
    assert "None" not in cli.stderr


def test_plain_sql_errors_keep_their_sqlstate(items: psycopg.Connection[Any], dsn: str) -> None:
    run = psql(
        dsn,
        r"\set VERBOSITY verbose",
        "SELECT motion.exec($m$INSERT INTO items (id) VALUES (1), (1)$m$)",
        check=False,
    )
    assert "ERROR:  23505: duplicate key value" in run.stderr and clean_context(run.stderr)
    with pytest.raises(errors.MotionError) as raised:
        motion_pg.execute(items, "INSERT INTO items (id) VALUES (1), (1)")
    assert raised.value.sqlstate == "23505"


# -- item 12: settings are validated at CREATE and ALTER ----------------------------------------

BAD_SETTINGS = [
    ("fit_batch = 'abc'", "fit_batch"),
    ("fit_batch = -1", "fit_batch"),
    ("fit_timeout = 'soon'", "fit_timeout"),
    ("max_attempts = 'x'", "max_attempts"),
    ("max_attempt = 3", "max_attempts"),  # a near miss, not a user param
    ("on_error = 'ignore'", "on_error"),
]


@pytest.mark.parametrize(("setting", "named"), BAD_SETTINGS)
def test_bad_settings_are_refused_at_create(
    items: psycopg.Connection[Any], setting: str, named: str
) -> None:
    with pytest.raises(errors.InvalidSetting, match=named):
        motion_pg.execute(items, f"{COUNTER} WITH ({setting})")
    nothing_left(items)


@pytest.mark.parametrize(("setting", "named"), BAD_SETTINGS)
def test_bad_settings_are_refused_at_alter(
    items: psycopg.Connection[Any], setting: str, named: str
) -> None:
    motion_pg.execute(items, f"{COUNTER} WITH (fit_batch = 5)")
    with pytest.raises(errors.InvalidSetting, match=named):
        motion_pg.execute(items, f"ALTER MOTION TRIGGER counter SET ({setting})")
    row = items.execute(
        "SELECT (settings).fit_batch, serving_version, params FROM motion.triggers"
    ).fetchone()
    assert row == (5, 1, {})
    assert items.execute("SELECT count(*) FROM motion.versions").fetchone() == (1,)


def test_settings_are_shown_next_to_params(items: psycopg.Connection[Any]) -> None:
    motion_pg.execute(items, f"{COUNTER} WITH (fit_batch = 5, factor = 3)")
    motion_pg.execute(items, "ALTER MOTION TRIGGER counter SET (on_error = 'skip')")
    shown = motion_pg.execute(items, "SHOW MOTION TRIGGERS")[0]
    assert "settings" in shown.splitlines()[0]
    assert '"fit_batch": 5' in shown and '"on_error": "skip"' in shown and '"factor": 3' in shown
    status = items.execute("SELECT params, settings FROM motion.trigger_status").fetchone()
    assert status is not None and status[0] == {"factor": 3}
    assert status[1]["fit_batch"] == 5 and status[1]["on_error"] == "skip"
    history = items.execute(
        "SELECT version, settings ->> 'on_error' FROM motion.version_history ORDER BY version"
    ).fetchall()
    assert history == [(1, "raise"), (2, "skip")]


# -- item 14: admin footguns refused at CREATE ---------------------------------------------------

LONG = "x" * 64
FOOTGUNS = [
    ("CREATE MOTION TRIGGER q ON motion.jobs USING 'motion_test_apps.basic:Counter'",
     errors.DefinitionError, "schema motion belongs to motion itself"),
    ("CREATE MOTION TRIGGER q ON pg_catalog.pg_class USING 'motion_test_apps.basic:Counter'",
     errors.DefinitionError, "belongs to the system catalogs"),
    ("CREATE MOTION TRIGGER q ON information_schema.sql_features"
     " USING 'motion_test_apps.basic:Counter'",
     errors.DefinitionError, "belongs to the system catalogs"),
    (f"CREATE MOTION TRIGGER {LONG} ON items USING 'motion_test_apps.basic:Counter'",
     errors.DefinitionError, "is 64 bytes long; the limit is 63 bytes"),
    (f"CREATE MOTION TRIGGER q ON {LONG} USING 'motion_test_apps.basic:Counter'",
     errors.DefinitionError, "is 64 bytes long; Postgres names are at most 63 bytes"),
    ("CREATE MOTION TRIGGER q ON items USING 'motion_pg.errors:MotionError'",
     errors.UserCodeError, "a class of the motion_pg package itself is not a trigger class"),
    ("CREATE MOTION TRIGGER q ON items USING 'motion_pg.trigger:Trigger'",
     errors.UserCodeError, "a class of the motion_pg package itself"),
    ("CREATE MOTION TRIGGER q ON items USING 'motion_test_apps.compiler:NotATrigger'",
     errors.UserCodeError, "is not a subclass of motion_pg.Trigger"),
]  # fmt: skip


@pytest.mark.parametrize(("statement", "cls", "message"), FOOTGUNS)
def test_footguns_are_refused_at_create(
    items: psycopg.Connection[Any], statement: str, cls: type[errors.MotionError], message: str
) -> None:
    with pytest.raises(cls, match=message):
        motion_pg.execute(items, statement)
    nothing_left(items)
    # the session's error handling still works (a reloaded motion_pg.errors would break it)
    with pytest.raises(errors.UnknownTrigger):
        motion_pg.execute(items, "ALTER MOTION TRIGGER nope REFIT")


# -- item 10 (CREATE side): the creator's search_path is recorded and setup uses it --------------


def test_create_records_search_path_and_setup_uses_it(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE SCHEMA app")
    conn.execute("CREATE TABLE app.items (id serial PRIMARY KEY, value int)")
    conn.execute("INSERT INTO app.items (value) VALUES (1), (2)")
    conn.execute("SET search_path = app, public")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER reads ON items USING 'motion_test_apps.compiler:SetupReads'"
    )
    row = conn.execute("SELECT search_path FROM motion.triggers WHERE name = 'reads'").fetchone()
    assert row == (["app", "public"],)
    assert state(conn, "reads")["rows"] == 2
    conn.execute("RESET search_path")  # REFIT from another path still reads app.items
    conn.execute("INSERT INTO app.items (value) VALUES (3)")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER reads REFIT")
    assert state(conn, "reads")["rows"] == 3
    assert conn.execute("SHOW search_path").fetchone() == ('"$user", public',)


# -- item 11(c): batch mode is announced ------------------------------------------------------


def test_batch_mode_is_announced_with_how_to_opt_out(items: psycopg.Connection[Any]) -> None:
    items.execute("ALTER TABLE items ADD COLUMN batch_size int")
    seen = notices(items)
    motion_pg.execute(
        items, "CREATE MOTION TRIGGER b ON items USING 'motion_test_apps.batch:BatchCounter'"
    )
    said = [n for n in seen if "batch mode" in n]
    assert len(said) == 1 and "RETURNING" in said[0] and "infer_mode = 'row'" in said[0]
    seen.clear()
    motion_pg.execute(
        items,
        "CREATE OR REPLACE MOTION TRIGGER b ON items USING 'motion_test_apps.batch:BatchCounter'"
        " WITH (infer_mode = 'row')",
    )
    assert not [n for n in seen if "batch mode" in n]


# -- item 17: DISABLE keeps fit events ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_disable_keeps_fit_events_and_enable_fits_them(
    items: psycopg.Connection[Any], dsn: str, mode: str
) -> None:
    items.execute("ALTER TABLE items ADD COLUMN batch_size int")
    motion_pg.execute(
        items, "CREATE MOTION TRIGGER b ON items USING 'motion_test_apps.batch:BatchCounter'"
        f" WITH (infer_mode = '{'auto' if mode == 'batch' else 'row'}')",
    )  # fmt: skip
    seen = notices(items)
    motion_pg.execute(items, "ALTER MOTION TRIGGER b DISABLE")
    assert any("fit events are kept" in n for n in seen)
    items.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 5) g")
    assert items.execute("SELECT count(doubled) FROM items").fetchone() == (0,)  # not inferred
    assert Worker(dsn, poll_interval=0.05).run(once=True) == 0  # nor fitted while disabled
    motion_pg.execute(items, "ALTER MOTION TRIGGER b ENABLE")
    items.execute("INSERT INTO items (value) VALUES (6)")
    assert items.execute("SELECT count(doubled) FROM items").fetchone() == (1,)
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert state(items, "b")["ids"] == [1, 2, 3, 4, 5, 6]
