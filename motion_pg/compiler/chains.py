"""Chains and firing order of the motion triggers on one relation.

A trigger class declares the columns its infer writes (``outputs = ("b",)``). A route whose input
columns include another route's outputs on the same relation is *downstream* of it: a chain such
as ``b`` from ``a`` and ``c`` from ``b``. On each relation motion orders the routes by chain
depth (a route with no upstream has depth 0; else 1 + the deepest upstream) and names their
Postgres triggers for it (:func:`motion_pg.triggers_ddl.pg_trigger_name`), so Postgres — which
fires a relation's triggers in name order — runs every upstream infer before the infers that read
its outputs, whatever the trigger names. Routes of one depth do not read each other's outputs, so
their relative order (by name) cannot change what they compute. A downstream route's UPDATE
triggers also fire when a statement sets one of its upstream routes' input columns, so
``UPDATE t SET a = 2`` infers ``b`` then ``c`` within the statement.

CREATE refuses a cycle (naming it) and two triggers writing the same column of a relation; it
also refuses a chain through a batch-mode infer (its outputs are written at the end of the
statement, after every row trigger). Chains are recomputed for the relations a CREATE, CREATE OR
REPLACE or DROP touches; a route whose place changed gets its triggers made again (and its trigger
a new revision, so backends reload its routes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from motion_pg.errors import DefinitionError
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.runtime.shadow_batch import KINDS as SHADOW_KINDS
from motion_pg.trigger import Trigger
from motion_pg.triggers_ddl import (
    LINEAGE_KINDS,
    ResolvedRoute,
    create_route_triggers,
    drop_route_triggers,
    set_route_triggers_enabled,
)

Node = tuple[str, int]  # (trigger name, route ordinal)


def declared_outputs(instance: Trigger, class_ref: str) -> tuple[str, ...]:
    """The class's ``outputs`` attribute: the columns its infer writes (empty: not declared)."""
    found = getattr(instance, "outputs", ())
    if isinstance(found, str) or not all(isinstance(c, str) for c in found or ()):
        raise DefinitionError(
            f"class {class_ref!r}: outputs must be a tuple of column names, got {found!r}",
            hint='write outputs = ("score",) in the class body',
        )
    return tuple(found or ())


def relids_of(db: PlpyDatabase, trigger: str) -> set[int]:
    """The relations ``trigger``'s routes are on."""
    return {int(r["relid"]) for r in db.query(query("route_relids"), [trigger])}


def link(
    db: PlpyDatabase, trigger: str, instance: Trigger, class_ref: str, before: Iterable[int]
) -> None:
    """Record the outputs of ``trigger``'s infer routes, then order the chains of its relations
    and of those it was on ``before`` (CREATE OR REPLACE)."""
    outputs = declared_outputs(instance, class_ref)
    relids = relids_of(db, trigger)
    if outputs:
        rows = [r for r in db.query(query("chain_routes"), [sorted(relids)])
                if r["trigger_name"] == trigger and r["infer_method"] is not None]  # fmt: skip
        columns = {int(r["relid"]): _columns(db, int(r["relid"])) for r in rows}
        written = set()
        for r in rows:
            mine = [c for c in outputs if c in columns[int(r["relid"])]]
            written.update(mine)
            db.query(query("set_route_outputs"), [trigger, r["ordinal"], mine])
        missing = [c for c in outputs if c not in written]
        if missing:
            raise DefinitionError(
                f'motion trigger "{trigger}": output column "{missing[0]}" is not a column of '
                "any relation it infers into",
                hint=f"add the column, or remove it from {class_ref}.outputs",
            )
    rechain(db, relids | set(before))


def rechain(db: PlpyDatabase, relids: Iterable[int]) -> None:
    """Order the routes on ``relids``; remake the triggers of routes whose place changed."""
    wanted = sorted(set(relids))
    if not wanted:
        return
    rows = db.query(query("chain_routes"), [wanted])
    by_relation: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_relation.setdefault(int(r["relid"]), []).append(r)
    for group in by_relation.values():
        places = _order(group)
        for r in group:
            depth, upstream = places[(r["trigger_name"], r["ordinal"])]
            stored = r["chain_columns"]
            if depth != r["chain_depth"] or not _same(upstream, stored):
                _remake(db, r, depth, upstream)


def _order(group: list[dict[str, Any]]) -> dict[Node, tuple[int, list[str] | None]]:
    """Each route's (depth, upstream input columns; None: any) on one relation."""
    relation = group[0]["relation"]
    nodes = {(r["trigger_name"], r["ordinal"]): r for r in group}
    writers: dict[str, Node] = {}
    for node, r in nodes.items():
        for column in r["outputs"] if r["infer_method"] is not None else ():
            other = writers.get(column)
            if other is not None and other[0] != node[0]:
                raise DefinitionError(
                    f'column "{column}" of {relation} is an output of both motion triggers '
                    f'"{other[0]}" and "{node[0]}": which value stays would depend on their order',
                    hint="let one trigger write the column, or have the other write another one",
                )
            writers[column] = node
    upstream_of: dict[Node, list[Node]] = {n: [] for n in nodes}
    for node, r in nodes.items():
        reads = r["columns"]
        for column, writer in writers.items():
            if writer != node and (reads is None or column in reads):
                upstream_of[node].append(writer)
    _refuse_cycles(nodes, upstream_of, relation)
    _refuse_batch(nodes, upstream_of, relation)
    places: dict[Node, tuple[int, list[str] | None]] = {}

    def place(node: Node) -> tuple[int, list[str] | None]:
        if node not in places:
            depth, columns = 0, []  # type: tuple[int, list[str] | None]
            for up in upstream_of[node]:
                up_depth, up_columns = place(up)
                depth = max(depth, up_depth + 1)
                up_reads = nodes[up]["columns"]
                if columns is None or up_columns is None or up_reads is None:
                    columns = None
                else:
                    columns = [*columns, *up_reads, *up_columns]
            if columns is not None:
                columns = sorted(set(columns))
            places[node] = (depth, columns)
        return places[node]

    for node in nodes:
        place(node)
    return places


def _refuse_cycles(
    nodes: dict[Node, dict[str, Any]], upstream_of: dict[Node, list[Node]], relation: str
) -> None:
    done: set[Node] = set()

    def visit(node: Node, path: list[Node]) -> None:
        if node in path:
            loop = [*path[path.index(node) :], node]
            steps = " -> ".join(n[0] for n in reversed(loop))
            raise DefinitionError(
                f"motion triggers on {relation} would form a cycle: {steps} (each one's infer "
                "reads the output of the one before it)",
                hint="break the cycle: drop an output from a class's outputs, or a column from "
                "a route's column list",
            )
        if node in done:
            return
        for up in upstream_of[node]:
            visit(up, [*path, node])
        done.add(node)

    for node in nodes:
        visit(node, [])


def _refuse_batch(
    nodes: dict[Node, dict[str, Any]], upstream_of: dict[Node, list[Node]], relation: str
) -> None:
    for node, ups in upstream_of.items():
        for up in ups:
            if any(p.endswith("_infer_batch") for p in nodes[up]["pg_triggers"]):
                raise DefinitionError(
                    f'motion trigger "{node[0]}" reads an output of "{up[0]}" on {relation}, which '
                    "infers INSERTs in batch mode: its outputs are written after every row "
                    "trigger, too late for a chain",
                    hint=f"create \"{up[0]}\" WITH (infer_mode = 'row')",
                )


def _remake(db: PlpyDatabase, r: dict[str, Any], depth: int, upstream: list[str] | None) -> None:
    from psycopg import sql

    table = sql.Identifier(r["schema"], r["name"])
    names: list[str] = list(r["pg_triggers"])
    kept = [n for n in names if n.endswith(tuple(f"_{k}" for k in (*LINEAGE_KINDS, *SHADOW_KINDS)))]
    drop_route_triggers(db, [(table, n) for n in names if n not in kept])
    route = ResolvedRoute(
        ordinal=r["ordinal"], relid=int(r["relid"]), relation=r["relation"], schema=r["schema"],
        table=r["name"], columns=list(r["columns"]) if r["columns"] is not None else None,
        infer=r["infer_method"], fit=r["fit_method"], key_columns=list(r["key_columns"]),
    )  # fmt: skip
    batch = any(n.endswith("_infer_batch") for n in names)
    deferred = any(n.endswith("_async_ins") for n in names)  # an async route stays async
    made = create_route_triggers(db, r["trigger_name"], route, batch=batch, deferred=deferred,
                                 depth=depth, upstream=upstream)  # fmt: skip
    db.query(query("set_route_chain"),
             [r["trigger_name"], r["ordinal"], depth, upstream, made + kept])  # fmt: skip
    db.query(query("bump_revision"), [r["trigger_name"]])
    set_route_triggers_enabled(db, [(table, n) for n in made], enabled=r["enabled"],
                               always=r["fire_on_replica"])  # fmt: skip


def _same(upstream: list[str] | None, stored: Sequence[str] | None) -> bool:
    if upstream is None or stored is None:
        return upstream is None and stored is None
    return sorted(upstream) == sorted(stored)


def _columns(db: PlpyDatabase, relid: int) -> set[str]:
    return {str(c["name"]) for c in db.query(query("relation_columns"), [relid])}
