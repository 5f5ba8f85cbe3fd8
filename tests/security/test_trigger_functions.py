"""Issue 9 items 1 and 2: motion's trigger functions run only where motion attached them.

EXECUTE on them is revoked from PUBLIC (a role cannot attach them), and each refuses to run for a
Postgres trigger the catalog does not name for that relation and route (an administrator's stray
trigger, or a role that was granted EXECUTE anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg

from .conftest import Role, is_superuser, jobs

# a role's own enum, and a cast from it to json whose function makes the caller a superuser: it
# runs as whoever evaluates to_jsonb on a row holding the enum
EVIL_CAST = [
    "CREATE TYPE pg_temp.evil AS ENUM ('x')",
    "CREATE FUNCTION pg_temp.evil_json(pg_temp.evil) RETURNS json LANGUAGE plpgsql AS $f$"
    " BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', session_user); RETURN '{}'; END $f$",
    "CREATE CAST (pg_temp.evil AS json) WITH FUNCTION pg_temp.evil_json(pg_temp.evil)",
    "CREATE TEMP TABLE loot (v pg_temp.evil)",
]
ATTACH_ENQUEUE = (
    "CREATE TRIGGER grab AFTER INSERT ON {table} REFERENCING NEW TABLE AS motion_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION motion.enqueue_statement('counter', '0', 'items')"
)
SHADOW = "CREATE TEMP TABLE shadow (id int PRIMARY KEY, value int, doubled int, seen_version int)"
ENQUEUE_ATTACHED = (
    "enqueue_statement",
    "CREATE TRIGGER grab AFTER INSERT ON {table} REFERENCING NEW TABLE AS motion_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION motion.enqueue_statement('counter', '0', 'items')",
)
ROW_ATTACHED = (
    "infer_row",
    "CREATE TRIGGER grab BEFORE INSERT ON {table} FOR EACH ROW"
    " EXECUTE FUNCTION motion.infer_row('counter', '0')",
)


def grant_execute(conn: psycopg.Connection[Any], function: str, role: Role) -> None:
    conn.execute(
        sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
            sql.SQL(function), sql.Identifier(role.name)
        )
    )


def test_app_role_with_table_grants_infers_and_enqueues(
    conn: psycopg.Connection[Any], app: Role
) -> None:
    """Postgres checks EXECUTE on a trigger function at CREATE TRIGGER, not when it fires: a role
    with only INSERT/UPDATE/SELECT on a routed table drives motion as before."""
    with app.connect() as c:
        assert c.execute(
            "INSERT INTO items (value) VALUES (3) RETURNING doubled, seen_version"
        ).fetchone() == (6, 1)
        c.execute("UPDATE items SET value = 4")
        assert c.execute("SELECT doubled FROM items").fetchone() == (8,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT count(*) FROM motion.jobs")
    assert jobs(conn) == 2


def test_app_role_drives_column_list_routes(
    conn: psycopg.Connection[Any], make_role: Callable[[], Role]
) -> None:
    """The row-level enqueue (UPDATE OF listed columns) also fires for a role without EXECUTE."""
    conn.execute("CREATE TABLE notes (id int PRIMARY KEY, value int NOT NULL, label text)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER tag ON notes (value) USING 'motion_test_apps.security:Tag'",
    )
    role = make_role()
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON notes TO {}").format(
        sql.Identifier(role.name)))  # fmt: skip
    with role.connect() as c:
        c.execute("INSERT INTO notes VALUES (1, 5)")
        c.execute("UPDATE notes SET value = 6")
        assert c.execute("SELECT label FROM notes").fetchone() == ("v6",)
    assert jobs(conn, "tag") == 2


def test_superuser_escalation_through_temp_table_cast(
    conn: psycopg.Connection[Any], counter: None, attacker: Role
) -> None:
    """Item 1: a temp table with a column of the role's enum, cast to json by a function of the
    role, attached to motion.enqueue_statement: the cast would run as the function owner."""
    refused: psycopg.Error | None = None
    with attacker.connect() as c:
        for statement in EVIL_CAST:
            c.execute(statement)
        try:
            c.execute(ATTACH_ENQUEUE.format(table="loot"))
            c.execute("INSERT INTO loot VALUES ('x')")
        except psycopg.errors.InsufficientPrivilege as e:
            refused = e
    assert not is_superuser(conn, attacker)  # on 0.3 before the fix: rolsuper became true
    assert refused is not None and "motion.enqueue_statement" in str(refused)
    assert jobs(conn) == 0


def test_escalation_refused_even_with_execute_granted(
    conn: psycopg.Connection[Any], counter: None, attacker: Role
) -> None:
    """Defense in depth: a role that was granted EXECUTE (by mistake) can attach the function,
    but it refuses to run before it reads a row: the catalog made no such trigger."""
    grant_execute(conn, "motion.enqueue_statement()", attacker)
    with attacker.connect() as c:
        for statement in EVIL_CAST:
            c.execute(statement)
        c.execute(ATTACH_ENQUEUE.format(table="loot"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            c.execute("INSERT INTO loot VALUES ('x')")
    assert 'trigger "grab" on relation' in str(caught.value)
    assert "motion did not create it" in str(caught.value)
    assert not is_superuser(conn, attacker)
    assert jobs(conn) == 0


def test_forged_fit_events_for_a_table_the_role_cannot_touch(
    conn: psycopg.Connection[Any], counter: None, attacker: Role
) -> None:
    """Item 2: events queued for ``counter`` from the role's temp table would be fitted."""
    with attacker.connect() as c:
        c.execute(SHADOW)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(ATTACH_ENQUEUE.format(table="shadow"))
            c.execute("INSERT INTO shadow VALUES (1, 1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "CREATE TRIGGER grab AFTER UPDATE ON shadow FOR EACH ROW"
                " EXECUTE FUNCTION motion.enqueue_row('counter', '0', 'items')"
            )
            c.execute("UPDATE shadow SET value = 2")
    assert jobs(conn) == 0


@pytest.mark.parametrize("function", ["infer_row", "infer_statement"])
def test_infer_on_a_temp_table_leaks_nothing(
    conn: psycopg.Connection[Any], counter: None, attacker: Role, function: str
) -> None:
    """Item 2: infer_row attached to a temp table would return ``counter``'s outputs."""
    timing = "BEFORE INSERT ON shadow FOR EACH ROW"
    if function == "infer_statement":
        timing = "BEFORE INSERT ON shadow FOR EACH STATEMENT"
    with attacker.connect() as c:
        c.execute(SHADOW)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                f"CREATE TRIGGER grab {timing} EXECUTE FUNCTION motion.{function}('counter', '0')"
            )
            c.execute("INSERT INTO shadow VALUES (1, 21)")
        assert c.execute("SELECT doubled FROM shadow").fetchall() == []


def test_infer_batch_on_a_temp_table_leaks_nothing(
    conn: psycopg.Connection[Any], attacker: Role
) -> None:
    """Item 2, batch mode: infer_batch writes its outputs back into the role's temp table."""
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, "
                 "seen_version int, batch_size int)")  # fmt: skip
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.batch:BatchCounter'"
    )
    with attacker.connect() as c:
        c.execute("CREATE TEMP TABLE shadow (id int PRIMARY KEY, value int, doubled int,"
                  " seen_version int, batch_size int)")  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "CREATE TRIGGER grab AFTER INSERT ON shadow REFERENCING NEW TABLE AS"
                " motion_new_rows FOR EACH STATEMENT"
                " EXECUTE FUNCTION motion.infer_batch('counter', '0')"
            )
            c.execute("INSERT INTO shadow VALUES (1, 21)")
        assert c.execute("SELECT doubled FROM shadow WHERE doubled IS NOT NULL").fetchall() == []


@pytest.mark.parametrize(
    "function, create",
    [
        ENQUEUE_ATTACHED,
        ROW_ATTACHED,
        (
            "infer_statement",
            "CREATE TRIGGER grab BEFORE INSERT ON {table} FOR EACH STATEMENT"
            " EXECUTE FUNCTION motion.infer_statement('counter', '0')",
        ),
    ],
)
@pytest.mark.parametrize("table", ["other", "items"])
def test_stray_trigger_of_an_admin_is_refused(
    conn: psycopg.Connection[Any], counter: None, function: str, create: str, table: str
) -> None:
    """A Postgres trigger the catalog does not name is refused even when an administrator made
    it: on another table, and on the routed table itself under another name."""
    conn.execute("CREATE TABLE other (id serial PRIMARY KEY, value int NOT NULL, doubled int,"
                 " seen_version int)")  # fmt: skip
    conn.execute(create.format(table=table))
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(f"INSERT INTO {table} (value) VALUES (1)")
    message = str(caught.value)
    assert f'trigger "grab" on relation public.{table}' in message, message
    assert "motion did not create it" in message
    assert caught.value.diag.message_hint is not None
    assert "CREATE MOTION TRIGGER" in caught.value.diag.message_hint
    assert jobs(conn) == 0


def test_stray_infer_batch_of_an_admin_is_refused(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, "
                 "seen_version int, batch_size int)")  # fmt: skip
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.batch:BatchCounter'"
    )
    conn.execute("CREATE TABLE other (LIKE items INCLUDING ALL)")
    conn.execute(
        "CREATE TRIGGER grab AFTER INSERT ON other REFERENCING NEW TABLE AS motion_new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION motion.infer_batch('counter', '0')"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="motion did not create it"):
        conn.execute("INSERT INTO other VALUES (1, 21)")


def test_routes_of_a_partitioned_table_still_fire(conn: psycopg.Connection[Any]) -> None:
    """Row triggers on a partitioned table are cloned onto its partitions and fire with the
    partition's relid: the route check accepts a partition of the routed relation."""
    conn.execute(
        "CREATE TABLE notes (id int, value int NOT NULL, label text, PRIMARY KEY (id))"
        " PARTITION BY RANGE (id)"
    )
    conn.execute("CREATE TABLE notes_low PARTITION OF notes FOR VALUES FROM (0) TO (100)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER tag ON notes (value) USING 'motion_test_apps.security:Tag'"
        " WITH (infer_mode = 'row')",
    )
    conn.execute("INSERT INTO notes VALUES (1, 5)")
    conn.execute("UPDATE notes SET value = 6")
    conn.execute("CREATE TABLE notes_high PARTITION OF notes FOR VALUES FROM (100) TO (200)")
    conn.execute("INSERT INTO notes_high VALUES (150, 7)")
    labels = conn.execute("SELECT id, label FROM notes ORDER BY id").fetchall()
    assert labels == [(1, "v6"), (150, "v7")]
    events = conn.execute("SELECT op, row_data ->> 'value' FROM motion.jobs").fetchall()
    assert ("INSERT", "5") in events and ("UPDATE", "6") in events  # enqueue_row on a partition
