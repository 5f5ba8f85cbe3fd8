"""A claim's events as fit sees them: grouped by consecutive route, each row read back from the
queue (or the job log) typed as PL/Python gives infer the same row (:mod:`.pgtypes`).

Every route's read is one statement without parameters, so all of them go to the server in one
round trip, batched with whatever statements the fit call sends around them.
"""

from __future__ import annotations

from psycopg import sql

from motion_pg.errors import FitError
from motion_pg.trigger import Event, RouteInfo
from motion_pg.worker.fit_definition import Definition
from motion_pg.worker.pgtypes import Result, TypedDatabase

Groups = list[tuple[RouteInfo, list[Event]]]

_READ = (
    "SELECT j.id, r.* FROM {} j CROSS JOIN LATERAL "
    "pg_catalog.jsonb_populate_record(NULL::{}, j.row_data) r "
    "WHERE j.id = ANY ({}::pg_catalog.int8[])"
)


def grouped(events: list[Event], definition: Definition) -> Groups:
    """``events`` by consecutive route; events of routes redefined since they were enqueued
    are left out."""
    groups: Groups = []
    for event in events:
        route = definition.routes.get(event.route)
        if (
            route is None
            or route.fit is None
            or (route.schedule is None) != (event.op != "SCHEDULE")
        ):
            continue  # the route was redefined since the event was enqueued
        if groups and groups[-1][0].ordinal == route.ordinal:
            groups[-1][1].append(event)
        else:
            groups.append((route, [event]))
    return groups


def reads(
    db: TypedDatabase, trigger: str, groups: Groups, definition: Definition,
    source: sql.Composable,
) -> list[str]:  # fmt: skip
    """The statements reading back the rows of ``groups`` (one per group with rows, in order;
    a scheduled firing has none)."""
    texts = []
    for route, group in groups:
        if route.schedule is not None:
            continue  # a firing has no row
        row_type = definition.row_types.get(route.ordinal)
        if row_type is None:
            raise FitError(
                f'motion trigger "{trigger}": the relation of route {route.ordinal} '
                f"({route.relation}) no longer exists"
            )
        array = sql.Literal("{" + ",".join(str(int(e.id)) for e in group) + "}")
        texts.append(sql.SQL(_READ).format(source, row_type, array).as_string(db.conn))
    return texts


def fill(trigger: str, groups: Groups, definition: Definition, results: list[Result]) -> Groups:
    """``groups`` with each event's row taken from ``results`` (those of :func:`reads`)."""
    found = iter(results)
    for route, group in groups:
        if route.schedule is not None:
            continue
        names, rows = next(found)
        hidden = definition.hidden.get(route.ordinal, frozenset())
        typed = {
            row[0]: {n: v for n, v in zip(names[1:], row[1:], strict=True) if n not in hidden}
            for row in rows
        }
        gone = [e.id for e in group if e.id not in typed]
        if gone:
            raise FitError(f'motion trigger "{trigger}": event {gone[0]} is no longer where the '
                           "fit reads it (its run was finished or taken over meanwhile)")  # fmt: skip
        group[:] = [
            Event(id=e.id, op=e.op, relation=e.relation, route=e.route, row=typed[e.id])
            for e in group
        ]
    return groups


def typed_groups(
    db: TypedDatabase, trigger: str, events: list[Event], definition: Definition,
    source: sql.Composable, then: str,
) -> Groups:  # fmt: skip
    """``events`` by consecutive route, each row read back as PL/Python would see it; then the
    statement ``then`` (without parameters), all in one round trip."""
    groups = grouped(events, definition)
    texts = reads(db, trigger, groups, definition, source)
    results = db.fetch_sets("; ".join([*texts, then]))
    return fill(trigger, groups, definition, results[: len(texts)])
