"""Fitting a keyed trigger's claim (STATE PER): ``fit`` once per key with that key's events, each
call seeing the key's state over the trigger-wide one, and one version n+1 recording only the keys
the run changed (``motion.key_states``), committed with the jobs' completion."""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from motion_pg.errors import FitError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.keyed import canonical, key_value
from motion_pg.runtime.state import head_version, write_version
from motion_pg.settings import Settings
from motion_pg.trigger import Context, Event, RouteInfo
from motion_pg.worker.committing import LostRun, check_updates, pickled_state
from motion_pg.worker.keyed_claim import KeyedClaim

if TYPE_CHECKING:
    from motion_pg.worker.fitting import Definition, FitComputer

# what compute returns per key (jsonb text): the key's version it folded onto (None: the key had
# no state of its own) and its new state, pickled
KeyUpdates = dict[str, tuple[int | None, bytes]]


def compute(
    computer: FitComputer, claim: KeyedClaim, definition: Definition, version: int | None,
    search_path: list[str] | None, source: sql.Composable,
) -> KeyUpdates:  # fmt: skip
    """Each key's new state after its events (keys whose fits returned no updates are left out),
    in the caller's transaction; writes nothing of motion's."""
    trigger, db = claim.trigger, computer.db
    shared: Mapping[str, Any] = (
        computer.blobs.load(db, trigger, version) if version is not None
        else MappingProxyType({})
    )  # fmt: skip
    groups = computer._typed_groups(trigger, list(claim.events), definition, source, "SELECT 1")
    by_key: dict[str, list[tuple[RouteInfo, Event]]] = {}
    for route, group in groups:
        for event in group:
            by_key.setdefault(claim.keys[event.id], []).append((route, event))
    heads = {canonical(r["key"]): r for r in db.query(query("key_states_head"),
                                                      [trigger, list(by_key)])}  # fmt: skip
    computer.conn.execute(computer._user_path(search_path))
    states: dict[str, Any] = {}
    seen: dict[str, int | None] = {}
    for text, events in by_key.items():
        key = key_value(json.loads(text))
        head = heads.get(text)
        seen[text] = int(head["version"]) if head is not None else None
        base = Context(trigger, version or 0, shared, definition.params, computer.user_db, None,
                       key=key)  # fmt: skip
        if head is not None and head["data"] is not None:
            own = dict(pickle.loads(head["data"]))
            key_version = int(head["version"])
        else:
            own = dict(definition.instance.setup_key(key, base) or {})
            key_version = version or 0
        merged: dict[str, Any] = {}
        start = 0
        while start < len(events):  # consecutive events of one route go to one call
            route = events[start][0]
            end = start
            while end < len(events) and events[end][0].ordinal == route.ordinal:
                end += 1
            assert route.fit is not None
            method = loader.method(definition.instance, route.fit, definition.class_ref)
            view = MappingProxyType({**shared, **own, **merged})
            ctx = Context(trigger, key_version, view, definition.params, computer.user_db, route,
                          key=key)  # fmt: skip
            updates = method([e for _, e in events[start:end]], ctx)
            if updates is not None:
                merged.update(check_updates(trigger, updates, route.fit))
            start = end
        if merged:
            states[text] = {**own, **merged}
    computer._check_transaction(trigger)
    computer.conn.execute(
        "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)"
    )
    pickled = pickled_state(trigger, states)
    return {text: (seen[text], data) for text, data in pickled.items()}


def commit(conn: psycopg.Connection[Any], claim: KeyedClaim, updates: KeyUpdates) -> int | None:
    """Write version n+1 with the keys ``updates`` changed and complete the run's jobs, in the
    caller's transaction; returns the version (None when no key changed). Raises
    :class:`LostRun` when the run is no longer its worker's, and a :class:`FitError` (retried)
    when a key's state changed while the fit ran (a ROLLBACK TO VERSION)."""
    db = PgDatabase(conn)
    current = db.query(query("trigger_for_update"), [claim.trigger])
    if not current:
        raise LostRun(claim.run_id)
    row = current[0]
    parent = head_version(db, claim.trigger)
    version = None
    if updates:
        now = {canonical(r["key"]): int(r["version"])
               for r in db.query(query("key_states_head"), [claim.trigger, list(updates)])}  # fmt: skip
        for text, (seen, _) in updates.items():
            if now.get(text) != seen:
                raise FitError(
                    f'motion trigger "{claim.trigger}": the state of key {text} changed while '
                    "this fit ran (ALTER MOTION TRIGGER … ROLLBACK?)",
                    hint="the fit is retried on the key's new state",
                )
        params = row["params"]
        version = write_version(
            db, claim.trigger, {}, source="fit", parent=parent,
            params=json.loads(params) if isinstance(params, str) else params,
            settings=Settings.from_json(row["settings"]), run_id=claim.run_id, pickled=True,
        )  # fmt: skip
        keys = list(updates)
        db.query(query("insert_key_states"),
                 [claim.trigger, keys, version, [updates[k][1] for k in keys]])  # fmt: skip
    fenced = db.query(
        query("finish_run"),
        [claim.run_id, claim.worker_id, "succeeded", len(claim.events), parent, version, None],
    )
    if not fenced:
        raise LostRun(claim.run_id)
    db.query(query("complete_jobs"), [claim.run_id])
    return version
