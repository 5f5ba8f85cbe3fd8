"""The Postgres triggers of an async route (``WITH (infer_mode = 'async')``).

An async route's writes are not inferred by the writer's statement: AFTER triggers record the
written rows' primary keys into ``motion.async_rows`` (set-based, from a transition table; plain
PL/pgSQL, so the writer runs no Python and never waits), and the worker infers them after commit
(:mod:`motion_pg.worker.async_infer`). INSERTs and UPDATEs without a column list are recorded by
statement triggers; UPDATEs of listed columns by a row trigger with a WHEN clause, since Postgres
allows no transition tables on triggers with column lists. Fit routes keep their usual triggers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg import sql

from motion_pg.errors import DefinitionError

# the last parts of the names of an async route's recording triggers (infer kinds: DISABLE stops them)
KINDS = ("async_ins", "async_upd")


def check_route(trigger: str, relation: str, key_columns: Sequence[str]) -> str:
    """``'async'`` for a route the worker can infer: its relation has a primary key, by which the
    worker reads the rows and writes their outputs back; refuses the route otherwise."""
    if not key_columns:
        raise DefinitionError(
            f"motion trigger \"{trigger}\": infer_mode = 'async': {relation} has no primary key "
            "to write async outputs back by",
            hint=f"add a primary key to {relation}, or drop infer_mode = 'async'",
        )
    return "async"


def record_triggers(
    name: Callable[[str], str],
    table: sql.Composable,
    args: sql.Composable,
    columns: Sequence[str] | None,
    changed: sql.Composable | None,
) -> list[tuple[str, sql.Composable]]:
    """The (name, CREATE TRIGGER) statements recording an async route's written rows; ``name``
    makes a Postgres trigger name from a kind, ``changed`` is the WHEN condition of a column
    list."""
    made: list[tuple[str, sql.Composable]] = []
    ins = name("async_ins")
    made.append((ins, sql.SQL(
        "CREATE TRIGGER {name} AFTER INSERT ON {table} REFERENCING NEW TABLE AS motion_new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION motion.async_record({args})"
    ).format(name=sql.Identifier(ins), table=table, args=args)))  # fmt: skip
    upd = name("async_upd")
    if columns and changed is not None:
        statement = sql.SQL(
            "CREATE TRIGGER {name} AFTER UPDATE OF {cols} ON {table} FOR EACH ROW "
            "WHEN ({changed}) EXECUTE FUNCTION motion.async_record_row({args})"
        ).format(name=sql.Identifier(upd), table=table, args=args, changed=changed,
                 cols=sql.SQL(", ").join(map(sql.Identifier, columns)))  # fmt: skip
    else:
        statement = sql.SQL(
            "CREATE TRIGGER {name} AFTER UPDATE ON {table} REFERENCING NEW TABLE AS "
            "motion_new_rows FOR EACH STATEMENT EXECUTE FUNCTION motion.async_record({args})"
        ).format(name=sql.Identifier(upd), table=table, args=args)
    made.append((upd, statement))
    return made


def async_notice(trigger: str, relation: str) -> str:
    """What CREATE says about an async route: outputs arrive after commit."""
    return (
        f'motion trigger "{trigger}": writes to {relation} are inferred asynchronously by '
        "`motion-pg worker` after commit (infer_mode = 'async'): the writer never waits, but its "
        "transaction and INSERT … RETURNING do not see the outputs"
    )
