"""Every kind of bad infer output names trigger, relation, row key and cause (SQLSTATE MP300), and
``on_error = 'skip'`` skips them all: in row mode (``infer``) and batch mode (``infer_batch``)."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

import motion_pg
from tests.apps.motion_test_apps.outputs import CASES, TABLE

from .conftest import psql

MODES = {"row": "Emit", "batch": "EmitBatch"}


def create(conn: psycopg.Connection[Any], mode: str, params: str = "") -> None:
    conn.execute(TABLE)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER emit ON items USING 'motion_test_apps.outputs:{MODES[mode]}' "
        f"{params}",
    )


@pytest.mark.parametrize("mode", MODES)
def test_every_bad_output_names_trigger_relation_row_and_cause(
    conn: psycopg.Connection[Any], mode: str
) -> None:
    create(conn, mode)
    wrong = []
    for i, (kind, (_, fragment)) in enumerate(CASES.items()):
        key = 100 + i
        try:
            conn.execute("INSERT INTO items (id, kind) VALUES (%s, %s)", [key, kind])
        except psycopg.Error as e:
            primary = e.diag.message_primary or ""
            expected = (
                'motion trigger "emit" infer',
                "on public.items row",
                f"(id)=({key})",
                fragment,
            )
            missing = [part for part in expected if part not in primary]
            if missing or e.diag.sqlstate != "MP300" or e.diag.message_hint == "None":
                wrong.append(f"{kind}: {e.diag.sqlstate} {primary!r} hint={e.diag.message_hint!r}")
        else:
            wrong.append(f"{kind}: the INSERT did not fail")
    assert wrong == [], "\n".join(wrong)
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)


@pytest.mark.parametrize("mode", MODES)
def test_skip_stores_every_row_without_outputs_and_records_the_error(
    conn: psycopg.Connection[Any], mode: str
) -> None:
    create(conn, mode, "WITH (on_error = 'skip')")
    kinds = ["good", *CASES]
    conn.execute(
        "INSERT INTO items (id, kind) SELECT 100 + o, k FROM unnest(%s::text[]) "
        "WITH ORDINALITY AS x(k, o)",
        [kinds],
    )
    stored = conn.execute("SELECT kind, i4, req FROM items ORDER BY id").fetchall()
    assert stored[0] == ("good", -(2**31), "set")
    assert [(k, i4, req) for k, i4, req in stored[1:]] == [(k, None, "unset") for k in CASES]
    errors = dict(
        conn.execute("SELECT (row_key->>'id')::int, error FROM motion.infer_errors").fetchall()
    )
    wrong = [
        kind
        for i, (kind, (_, fragment)) in enumerate(CASES.items())
        if fragment not in errors.get(102 + i, "")
    ]
    assert wrong == [], errors
    assert len(errors) == len(CASES)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["good", "good_text"])
def test_values_of_every_type_are_written(
    conn: psycopg.Connection[Any], mode: str, kind: str
) -> None:
    """Including a vector(3) column in batch mode (its array type lives outside pg_catalog)."""
    create(conn, mode)
    conn.execute("INSERT INTO items (id, kind) VALUES (1, %s)", [kind])
    got = conn.execute(
        "SELECT i2, i4, i8, num, numx, f4, vc, ch, req, emb::text, d, ts, u, host(ip), m::text, "
        "pos FROM items"
    ).fetchone()
    text = kind == "good_text"
    assert got == (
        32767, -(2**31), 2**63 - 1, Decimal("-999.99" if text else "999.99"), Decimal("Infinity"),
        1.5, "abc" if text else "ab", "abc", "set", "[4,5,6]" if text else "[1,2,3]",
        datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        uuid.UUID(int=7), "192.168.0.1" if text else "10.0.0.1", "happy", 5,
    )  # fmt: skip


def test_psql_shows_no_hint_none_and_no_motion_internals(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        create(conn, "row")
    result = psql(dsn, "INSERT INTO items (id, kind) VALUES (7, 'int4_overflow')", check=False)
    err = result.stderr
    assert (
        'ERROR:  plpy.Error: motion trigger "emit" infer failed on public.items row (id)=(7)' in err
    )
    assert "column 'i4' (integer) cannot hold 3000000000" in err
    assert "HINT:  None" not in err
    assert "infer_failed" not in err and "convert_into" not in err  # motion's internals
    assert err.count('PL/Python function "infer_row", line') <= 2, err


def test_user_traceback_is_in_detail(conn: psycopg.Connection[Any]) -> None:
    create(conn, "row")
    with pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO items (id, kind) VALUES (7, 'value_error')")
    detail = info.value.diag.message_detail or ""
    assert "Traceback" in detail and "ValueError: bad row" in detail
    assert info.value.diag.sqlstate == "MP300"
    assert info.value.diag.message_hint is None


@pytest.mark.parametrize("mode", MODES)
def test_a_cancel_is_never_skipped(conn: psycopg.Connection[Any], mode: str) -> None:
    conn.execute(TABLE)
    cls = "Sleeps" if mode == "row" else "EmitBatch"
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER emit ON items USING 'motion_test_apps.outputs:{cls}' "
        "WITH (on_error = 'skip')",
    )
    # user SQL runs under the recorded path (the swap around it must not hide the cancel)
    conn.execute("UPDATE motion.triggers SET search_path = '{public}' WHERE name = 'emit'")
    if mode == "batch":  # batch: the write-back must propagate a cancel too
        conn.execute(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER slow BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION slow()"
        )
    conn.execute("SET statement_timeout = '300ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("INSERT INTO items (id, kind) VALUES (1, 'good')")
    conn.execute("RESET statement_timeout")
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM motion.infer_errors").fetchone() == (0,)


def test_a_state_that_does_not_load_names_trigger_and_version(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, "row")
    conn.execute("UPDATE motion.blobs SET data = '\\x00'::bytea WHERE trigger_name = 'emit'")
    with psycopg.connect(dsn, autocommit=True) as writer, pytest.raises(psycopg.Error) as info:
        writer.execute("INSERT INTO items (id, kind) VALUES (1, 'good')")
    assert info.value.diag.sqlstate == "MP300"
    primary = info.value.diag.message_primary or ""
    assert 'motion trigger "emit" cannot load its state version 1: UnpicklingError' in primary
    assert "ROLLBACK TO VERSION" in (info.value.diag.message_hint or "")
