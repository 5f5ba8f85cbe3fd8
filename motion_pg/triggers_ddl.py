"""The Postgres triggers a route compiles to.

For a route ``ON rel (cols) INFER m FIT f``:

- infer: a BEFORE STATEMENT trigger pins the serving state version for the statement, and BEFORE
  ROW triggers run ``m`` on INSERT and on UPDATEs that change one of ``cols``;
- fit: AFTER STATEMENT triggers enqueue the statement's rows from a transition table with one
  insert; UPDATEs filtered by columns use an AFTER ROW trigger with a WHEN clause instead, since
  Postgres allows no transition tables on triggers with column lists.

In batch mode (the class defines ``infer_batch`` and the route uses the default infer; see
:mod:`motion_pg.runtime.batch`) INSERTs are inferred by one AFTER INSERT statement trigger with a
transition table, which also enqueues the route's fit events; UPDATEs keep the row triggers. Such a
route also gets a ``fit_standby`` trigger, created disabled: it enqueues INSERTs while the motion
trigger is disabled (DISABLE stops infer only; the events of rows written meanwhile are kept and
fitted once it is enabled again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psycopg import sql

from motion_pg import async_triggers as asynchronous
from motion_pg.dsl.spec import Route
from motion_pg.errors import DefinitionError, UnknownColumn, UnknownRelation
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.settings import Settings

_TABLE_KINDS = {"r": "table", "p": "partitioned table"}


@dataclass
class ResolvedRoute:
    """A route checked against the catalog."""

    ordinal: int
    relid: int
    relation: str  # schema-qualified, quoted where needed
    schema: str
    table: str
    columns: list[str] | None
    infer: str | None
    fit: str | None
    key_columns: list[str]


def resolve_route(
    db: PlpyDatabase, ordinal: int, route: Route, caller_path: list[str]
) -> ResolvedRoute:
    """Check the route's relation and columns exist; raise naming what is missing. An unqualified
    relation name is looked up along ``caller_path`` (the statement's caller's search_path)."""
    rel = route.relation
    found = db.query(query("resolve_relation"), [rel.name, rel.schema, caller_path])
    if not found:
        raise UnknownRelation(
            f'relation "{rel}" does not exist',
            hint="create the table first, or check the name (quoted names are case-sensitive)",
        )
    relid, relkind = int(found[0]["relid"]), found[0]["relkind"]
    if relkind not in _TABLE_KINDS:
        raise UnknownRelation(f'"{rel}" is not a table; motion triggers route tables only')
    names = found[0]
    existing = [c["name"] for c in db.query(query("relation_columns"), [relid])]
    for column in route.columns or ():
        if column not in existing:
            raise UnknownColumn(
                f'column "{column}" of relation "{rel}" does not exist',
                hint=f"its columns are: {', '.join(existing)}",
            )
    return ResolvedRoute(
        ordinal=ordinal,
        relid=relid,
        relation=names["relation"],
        schema=names["schema"],
        table=names["name"],
        columns=list(route.columns) if route.columns is not None else None,
        infer=None if route.no_infer else route.infer,
        fit=None if route.no_fit else route.fit,
        key_columns=[k["name"] for k in db.query(query("relation_key"), [relid])],
    )


def pg_trigger_name(trigger: str, ordinal: int, kind: str, depth: int = 0) -> str:
    """A Postgres trigger name for a route, within the 63-byte identifier limit.

    ``depth`` is the route's place in its relation's chain (:mod:`motion_pg.compiler.chains`):
    Postgres fires a relation's triggers in the byte order of their names, and ``motion|NN_…``
    sorts after every ``motion_…`` name (and before the ``motion~…`` lineage guards)."""
    head = "motion_" if depth == 0 else f"motion|{depth:02d}_"
    name = f"{head}{trigger}_{ordinal}_{kind}"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    short = trigger.encode()[:30].decode(errors="ignore")
    return f"{head}{short}_{digest}_{ordinal}_{kind}"


def infer_mode(db: PlpyDatabase, trigger: str, route: ResolvedRoute) -> str:
    """``'batch'``, ``'row'`` or ``'async'``: how the route's writes are inferred.

    Batch mode is chosen when the class defines ``infer_batch``, the route uses the default infer
    and the relation has a primary key (the write-back matches rows on it); ``WITH (infer_mode =
    'row')`` opts out, ``infer_mode = 'batch'`` insists (and fails when batch mode cannot work).
    ``infer_mode = 'async'``: the worker infers after commit (:mod:`motion_pg.async_triggers`).
    """
    definition = db.query(query("trigger_definition"), [trigger])[0]
    wanted = Settings.from_json(definition["settings"]).infer_mode
    if route.infer is not None and (
        wanted == "async" or db.query(query("async_managed"))[0]["managed"]
    ):  # a managed install has no PL/Python: every route infers in the worker
        return asynchronous.check_route(trigger, route.relation, route.key_columns)
    if route.infer is None or wanted == "row":
        return "row"
    cls = loader.load_class(definition["class_ref"])
    reason = None
    if route.infer != "infer":
        reason = f"the route names INFER {route.infer}; batch mode calls infer_batch"
    elif not callable(getattr(cls, "infer_batch", None)):
        reason = f"class {definition['class_ref']!r} defines no infer_batch"
    elif not route.key_columns:
        reason = f"{route.relation} has no primary key to write batch outputs back by"
    if reason is None:
        return "batch"
    if wanted == "batch":
        raise DefinitionError(f"motion trigger \"{trigger}\": infer_mode = 'batch': {reason}")
    return "row"


def create_route_triggers(
    db: PlpyDatabase, trigger: str, route: ResolvedRoute, *, batch: bool, deferred: bool = False,
    depth: int = 0, upstream: Sequence[str] | None = (),
) -> list[str]:  # fmt: skip
    """Create the route's Postgres triggers (``batch``: the route's INSERTs are inferred in batch
    mode, ``deferred``: by the worker after commit, see :func:`infer_mode`); returns their names.

    ``depth`` and ``upstream`` place the route in its relation's chain: its triggers are named for
    its depth, and its UPDATE triggers also fire when the statement sets one of the ``upstream``
    columns (the inputs of the routes whose outputs it reads; None: any column), since an upstream
    infer may then change the route's own columns (its WHEN clause still tests those)."""
    table = sql.Identifier(route.schema, route.table)
    args = sql.SQL(", ").join([sql.Literal(trigger), sql.Literal(str(route.ordinal))])
    cols = route.columns
    fire = None if cols is None or upstream is None else list(dict.fromkeys([*cols, *upstream]))
    of_cols = (
        sql.SQL(" OF ") + sql.SQL(", ").join(map(sql.Identifier, fire)) if fire else sql.SQL("")
    )
    changed = (
        sql.SQL(" OR ").join(
            sql.SQL("OLD.{c} IS DISTINCT FROM NEW.{c}").format(c=sql.Identifier(c)) for c in cols
        )
        if cols
        else None
    )
    made: list[tuple[str, sql.Composable]] = []

    def add(kind: str, template: str, **parts: sql.Composable) -> None:
        name = pg_trigger_name(trigger, route.ordinal, kind, depth)
        made.append((name, sql.SQL(template).format(name=sql.Identifier(name), table=table,
                                                    args=args, **parts)))  # fmt: skip

    if route.infer is not None and deferred:
        made.extend(
            asynchronous.record_triggers(
                lambda kind: pg_trigger_name(trigger, route.ordinal, kind, depth),
                table,
                args,
                cols,
                changed,
            )
        )
    elif route.infer is not None:
        add(
            "infer_stmt",
            "CREATE TRIGGER {name} BEFORE {ins}UPDATE{of} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION motion.infer_statement({args})",
            of=of_cols,
            ins=sql.SQL("" if batch else "INSERT OR "),
        )
        if batch:
            add(
                "infer_batch",
                "CREATE TRIGGER {name} AFTER INSERT ON {table} "
                "REFERENCING NEW TABLE AS motion_new_rows FOR EACH STATEMENT "
                "EXECUTE FUNCTION motion.infer_batch({args})",
            )
            add("infer_upd", "CREATE TRIGGER {name} BEFORE UPDATE{of} ON {table} FOR EACH ROW "
                "{when}EXECUTE FUNCTION motion.infer_row({args})", of=of_cols,
                when=sql.SQL("WHEN ({}) ").format(changed) if changed else sql.SQL(""))  # fmt: skip
        elif changed is None:
            add(
                "infer",
                "CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION motion.infer_row({args})",
            )
        else:
            add(
                "infer_ins",
                "CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION motion.infer_row({args})",
            )
            add(
                "infer_upd",
                "CREATE TRIGGER {name} BEFORE UPDATE{of} ON {table} FOR EACH ROW "
                "WHEN ({changed}) EXECUTE FUNCTION motion.infer_row({args})",
                of=of_cols,
                changed=changed,
            )
    if route.fit is not None:
        enqueue_args = args + sql.SQL(", ") + sql.Literal(route.relation)
        if batch and route.infer is not None:  # the batch trigger enqueues inserts, but not while
            add(  # the motion trigger is disabled: then this one does
                "fit_standby",
                "CREATE TRIGGER {name} AFTER INSERT ON {table} "
                "REFERENCING NEW TABLE AS motion_new_rows FOR EACH STATEMENT "
                "EXECUTE FUNCTION motion.enqueue_statement({eargs})",
                eargs=enqueue_args,
            )
        else:
            add(
                "fit_ins",
                "CREATE TRIGGER {name} AFTER INSERT ON {table} "
                "REFERENCING NEW TABLE AS motion_new_rows FOR EACH STATEMENT "
                "EXECUTE FUNCTION motion.enqueue_statement({eargs})",
                eargs=enqueue_args,
            )
        if changed is None:
            add(
                "fit_upd",
                "CREATE TRIGGER {name} AFTER UPDATE ON {table} "
                "REFERENCING NEW TABLE AS motion_new_rows FOR EACH STATEMENT "
                "EXECUTE FUNCTION motion.enqueue_statement({eargs})",
                eargs=enqueue_args,
            )
        else:
            add("fit_upd", "CREATE TRIGGER {name} AFTER UPDATE{of} ON {table} FOR EACH ROW "
                "WHEN ({changed}) EXECUTE FUNCTION motion.enqueue_row({eargs})",
                of=of_cols, changed=changed, eargs=enqueue_args)  # fmt: skip
    for _, statement in made:
        db.execute_ddl(statement.as_string(None))
    return [name for name, _ in made]


# the kinds of Postgres triggers a route compiles to (the last part of their names)
INFER_KINDS = ("infer_stmt", "infer_batch", "infer_upd", "infer_ins", "infer", *asynchronous.KINDS)
STANDBY_KIND = "fit_standby"
# the (clear, guard) triggers of a lineage column (motion_pg.compiler.lineage): always enabled
LINEAGE_KINDS = ("lineage_ins", "lineage_upd")
_KINDS = (*INFER_KINDS, "fit_ins", "fit_upd", STANDBY_KIND, *LINEAGE_KINDS)


def _kind(pg_trigger: str) -> str:
    return next((k for k in _KINDS if pg_trigger.endswith("_" + k)), "")


def set_route_triggers_enabled(
    db: PlpyDatabase,
    pg_triggers: Iterable[tuple[sql.Identifier, str]],
    *,
    enabled: bool,
    always: bool,
) -> None:
    """Enable or disable a motion trigger's Postgres triggers.

    Disabling stops infer only: fit events keep being queued (the claim skips a disabled trigger,
    so they wait for ENABLE). ``always`` (``fire_on_replica = true``) enables them ALWAYS, so rows
    applied by logical replication (session_replication_role = replica) fire too.
    """
    on = sql.SQL("ENABLE ALWAYS" if always else "ENABLE")
    off = sql.SQL("DISABLE")
    for relation, name in pg_triggers:
        kind = _kind(name)
        if kind in INFER_KINDS:
            verb = on if enabled else off
        elif kind == STANDBY_KIND:
            verb = off if enabled else on
        else:
            verb = on
        db.execute_ddl(
            sql.SQL("ALTER TABLE {} {} TRIGGER {}")
            .format(relation, verb, sql.Identifier(name))
            .as_string(None)
        )


def drop_route_triggers(
    db: PlpyDatabase, pg_triggers: Iterable[tuple[sql.Identifier, str]]
) -> None:
    """Drop a motion trigger's Postgres triggers."""
    for relation, name in pg_triggers:
        db.execute_ddl(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON {}")
            .format(sql.Identifier(name), relation)
            .as_string(None)
        )
