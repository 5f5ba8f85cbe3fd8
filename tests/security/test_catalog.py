"""Every function in schema motion is revoked from PUBLIC or safe with any arguments, and every
SECURITY DEFINER one pins ``search_path = pg_catalog, pg_temp``; internal functions refuse any
role but an administrator."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from .conftest import Role

# functions any role may call, each with why that is safe with any arguments
PUBLIC_ALLOWED = {
    "motion.schema_version()": "returns a constant (the installed release)",
}
# calls an attacker might try, each refused by EXECUTE privileges
INTERNAL_CALLS = [
    "SELECT motion._bootstrap()",
    "SELECT motion._refresh('counter')",
    "SELECT motion._check_serving('counter', 'x', '0', 'items'::regclass, 'x', 1, '\\x00', 10)",
    "SELECT motion._lineage_accept('counter', 'counter_lineage', '\\x01'::bytea)",
    "SELECT motion.lineage('items', '1')",
    "SELECT * FROM motion.version_events('counter', 1)",
    "SELECT motion._writing_back('items'::regclass)",
    "SELECT motion.check_import_paths(ARRAY['/'])",
    "SELECT motion.exec('DROP MOTION TRIGGER counter')",
    "SELECT motion.warm('counter')",
]


def functions(conn: psycopg.Connection[Any]) -> list[tuple[str, bool, bool, list[str] | None]]:
    """(signature, executable by PUBLIC, SECURITY DEFINER, proconfig) of schema motion."""
    return conn.execute(
        "SELECT p.oid::regprocedure::text,"
        " p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a"
        "   WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),"
        " p.prosecdef, p.proconfig"
        " FROM pg_proc p WHERE p.pronamespace = 'motion'::regnamespace ORDER BY 1"
    ).fetchall()


def test_no_function_is_public_unless_allowed(conn: psycopg.Connection[Any]) -> None:
    found = functions(conn)
    assert len(found) >= 10
    public = {signature for signature, is_public, _, _ in found if is_public}
    assert public == set(PUBLIC_ALLOWED), public - set(PUBLIC_ALLOWED)


def test_security_definer_functions_pin_search_path(conn: psycopg.Connection[Any]) -> None:
    definers = [(s, config) for s, _, definer, config in functions(conn) if definer]
    assert definers
    for signature, config in definers:
        assert config is not None and "search_path=pg_catalog, pg_temp" in config, signature


def test_definer_plpgsql_qualifies_its_calls(conn: psycopg.Connection[Any]) -> None:
    """The SQL trigger functions call pg_catalog's functions by their qualified names."""
    sources = conn.execute(
        "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
        " WHERE p.pronamespace = 'motion'::regnamespace AND p.prosecdef AND l.lanname = 'plpgsql'"
    ).fetchall()
    assert sources
    for name, source in sources:
        for call in ("to_jsonb(", "pg_notify(", "current_setting(", "set_config(",
                     "pg_trigger_depth(", "quote_ident("):  # fmt: skip
            unqualified = source.replace("pg_catalog." + call, "")
            assert call not in unqualified, f"{name} calls {call}) unqualified"


@pytest.mark.parametrize("statement", INTERNAL_CALLS)
def test_internal_functions_refuse_other_roles(
    counter: None, attacker: Role, statement: str
) -> None:
    with attacker.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)


def test_trigger_functions_cannot_be_attached_by_other_roles(counter: None, attacker: Role) -> None:
    with attacker.connect() as c:
        c.execute("CREATE TEMP TABLE t (id int)")
        for function in ("infer_statement", "infer_row", "infer_batch", "enqueue_statement",
                         "enqueue_row"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(f"CREATE TRIGGER x AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION"
                          f" motion.{function}('counter', '0', 'items')")  # fmt: skip


def test_listening_reveals_no_trigger_names(
    conn: psycopg.Connection[Any], app: Role, attacker: Role
) -> None:
    """Any role may LISTEN on any channel: the worker's wake-up names no trigger."""
    with attacker.connect() as listener:
        listener.execute("LISTEN motion_jobs")
        with app.connect() as c:
            c.execute("INSERT INTO items (value) VALUES (1)")
        payloads = [n.payload for n in listener.notifies(timeout=2.0, stop_after=1)]
    assert payloads == [""]


@pytest.mark.parametrize(
    "relation", ["motion.triggers", "motion.jobs", "motion.blobs", "motion.trigger_status"]
)
def test_catalog_tables_refuse_other_roles(counter: None, app: Role, relation: str) -> None:
    with app.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(f"SELECT * FROM {relation}")
