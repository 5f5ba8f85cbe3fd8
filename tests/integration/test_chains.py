"""Chains and firing order (issue 12 item 5): the motion triggers on one relation fire upstream
first, whatever their names; a chain propagates within one statement; a cycle is refused."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError
from motion_pg.worker import Worker

from .conftest import state

APPS = "motion_test_apps.flow"


def table(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE t (id serial PRIMARY KEY, a int, b int, c int, d int)")


def create(conn: psycopg.Connection[Any], name: str, route: str, cls: str, extra: str = "") -> None:
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER {name} ON t {route} USING '{APPS}:{cls}'{extra}"
    )


def row(conn: psycopg.Connection[Any], id_: int = 1) -> tuple[Any, ...]:
    found = conn.execute("SELECT a, b, c, d FROM t WHERE id = %s", [id_]).fetchone()
    assert found is not None
    return tuple(found)


CHAIN = [("(a)", "BFromA"), ("(b)", "CFromB"), ("(c)", "DFromC")]


@pytest.mark.parametrize(
    ("names", "order"),
    [
        (("b_of_a", "c_of_b", "d_of_c"), (0, 1, 2)),  # names sort like the chain
        (("zz", "mm", "aa"), (0, 1, 2)),  # names sort against the chain
        (("zz", "mm", "aa"), (2, 1, 0)),  # created downstream first
        (("aa", "zz", "mm"), (1, 2, 0)),
    ],
)
def test_a_chain_propagates_within_the_statement_whatever_the_names(
    conn: psycopg.Connection[Any], names: tuple[str, ...], order: tuple[int, ...]
) -> None:
    table(conn)
    for i in order:
        create(conn, names[i], *CHAIN[i])
    conn.execute("INSERT INTO t (a) VALUES (1)")
    assert row(conn) == (1, 2, 3, 30)
    conn.execute("UPDATE t SET a = 2")  # b from a, then c from b, then d from c
    assert row(conn) == (2, 4, 5, 50)
    conn.execute("UPDATE t SET b = 7")  # the middle of the chain: c and d follow, a stays
    assert row(conn) == (2, 7, 8, 80)
    conn.execute("UPDATE t SET d = 1")  # no motion input: nothing is inferred
    assert row(conn) == (2, 7, 8, 1)
    depths = dict(conn.execute(
        "SELECT trigger_name, chain_depth FROM motion.routes ORDER BY trigger_name"
    ).fetchall())  # fmt: skip
    assert depths == {names[0]: 0, names[1]: 1, names[2]: 2}


def test_postgres_fires_the_row_triggers_in_chain_order(conn: psycopg.Connection[Any]) -> None:
    table(conn)
    create(conn, "aa", "(c)", "DFromC")
    create(conn, "mm", "(b)", "CFromB")
    create(conn, "zz", "(a)", "BFromA")
    fired = [r[0] for r in conn.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 't'::regclass AND NOT tgisinternal"
        " AND tgname LIKE '%infer_ins' ORDER BY tgname COLLATE \"C\""
    )]  # fmt: skip
    assert fired == [
        "motion_zz_0_infer_ins",
        "motion|01_mm_0_infer_ins",
        "motion|02_aa_0_infer_ins",
    ]


def test_an_insert_runs_the_whole_chain(conn: psycopg.Connection[Any]) -> None:
    table(conn)
    create(conn, "first", "(b)", "CFromB")
    create(conn, "second", "(a)", "BFromA")
    conn.execute("INSERT INTO t (a) SELECT g FROM generate_series(1, 3) g")
    assert conn.execute("SELECT b, c FROM t ORDER BY id").fetchall() == [(2, 3), (4, 5), (6, 7)]


def test_a_cycle_is_refused_at_create_naming_it(conn: psycopg.Connection[Any]) -> None:
    table(conn)
    create(conn, "b_of_a", "(a)", "BFromA")
    create(conn, "c_of_b", "(b)", "CFromB")
    with pytest.raises(DefinitionError, match=r"cycle: .*a_of_c.*b_of_a.*c_of_b") as e:
        create(conn, "a_of_c", "(c)", "AFromC")
    assert e.value.sqlstate == "MP100"
    assert "on public.t would form a cycle" in e.value.message
    names = [r[0] for r in conn.execute("SELECT name FROM motion.triggers ORDER BY name")]
    assert names == ["b_of_a", "c_of_b"]  # nothing of the refused CREATE is left
    conn.execute("INSERT INTO t (a) VALUES (1)")
    assert row(conn) == (1, 2, 3, None)


def test_two_writers_of_one_column_are_refused(conn: psycopg.Connection[Any]) -> None:
    table(conn)
    create(conn, "b_of_a", "(a)", "BFromA")
    with pytest.raises(DefinitionError, match=r'column "b" of public\.t is an output of both'):
        create(conn, "other_b", "(c)", "AlsoB")


def test_declared_outputs_are_checked(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE u (id serial PRIMARY KEY, a int)")
    with pytest.raises(DefinitionError, match='output column "b" is not a column'):
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER x ON u (a) USING '{APPS}:BFromA'")
    with pytest.raises(DefinitionError, match="outputs must be a tuple"):
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER x ON u (a) USING '{APPS}:BadOutputs'")


def test_dropping_the_upstream_moves_the_chain_up(conn: psycopg.Connection[Any]) -> None:
    table(conn)
    create(conn, "zz", "(a)", "BFromA")
    create(conn, "aa", "(b)", "CFromB")
    motion_pg.execute(conn, "DROP MOTION TRIGGER zz")
    assert conn.execute("SELECT chain_depth, chain_columns FROM motion.routes").fetchall() == [
        (0, [])
    ]
    conn.execute("INSERT INTO t (a, b) VALUES (1, 5)")
    assert row(conn) == (1, 5, 6, None)
    conn.execute("UPDATE t SET a = 3")  # no longer fires aa: a is not its input any more
    assert row(conn) == (3, 5, 6, None)


def test_or_replace_and_disable_keep_the_order(conn: psycopg.Connection[Any]) -> None:
    table(conn)
    create(conn, "aa", "(b)", "CFromB")
    create(conn, "zz", "(a)", "BFromA")
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER aa ON t (b) USING '{APPS}:CFromB'")
    conn.execute("INSERT INTO t (a) VALUES (1)")
    assert row(conn) == (1, 2, 3, None)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER aa DISABLE")
    conn.execute("UPDATE t SET a = 2")
    assert row(conn) == (2, 4, 3, None)  # aa stopped inferring
    motion_pg.execute(conn, "ALTER MOTION TRIGGER aa ENABLE")
    conn.execute("UPDATE t SET a = 3")
    assert row(conn) == (3, 6, 7, None)


def test_a_fit_downstream_of_an_infer_gets_its_update_events(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    table(conn)
    create(conn, "fits_b", "(b)", "FitsB")
    create(conn, "b_of_a", "(a)", "BFromA")
    conn.execute("INSERT INTO t (a) VALUES (1)")
    conn.execute("UPDATE t SET a = 2")  # b changes through b_of_a's infer: an event for fits_b
    conn.execute("UPDATE t SET d = 9")  # b unchanged: none
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert state(conn, "fits_b")["bs"] == [2, 4]


def test_infer_overwrites_a_value_the_user_supplied_for_an_output(
    conn: psycopg.Connection[Any],
) -> None:
    # documented behaviour (README "Chains and firing order"): an output column is the trigger's
    table(conn)
    create(conn, "b_of_a", "(a)", "BFromA")
    conn.execute("INSERT INTO t (a, b) VALUES (1, 100)")
    assert row(conn)[:2] == (1, 2)
    conn.execute("UPDATE t SET b = 100")  # not an input: infer does not run, the value stays
    assert row(conn)[:2] == (1, 100)
    conn.execute("UPDATE t SET a = 5, b = 100")
    assert row(conn)[:2] == (5, 10)
