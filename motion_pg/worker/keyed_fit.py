"""Fitting a keyed trigger's claim (STATE PER): ``fit`` once per key with that key's events, each
call seeing the key's state over the trigger-wide one, and one version n+1 recording only the keys
the run changed (``motion.key_states``), committed with the jobs' completion.

A key whose fit fails (its code raises, returns what is not a state, or leaves a statement's error
caught) fails alone: its events are retried or go dead on their own, with the key named in their
error, and the other keys' updates commit. When the failing key's fit had run statements through
``ctx.db``, its writes cannot be told apart from the others' without a subtransaction per key (more
than 64 in one transaction slow every snapshot of the server), so the run's transaction is rolled
back and computed again without that key: a retry costs only when a key fails.
"""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from motion_pg.worker import typed_events
from motion_pg.worker.committing import LostRun, check_updates, checked_pickle
from motion_pg.worker.keyed_claim import KeyedClaim
from motion_pg.worker.pgtypes import TypedDatabase

if TYPE_CHECKING:
    from motion_pg.worker.fit_definition import Definition
    from motion_pg.worker.fitting import FitComputer

log = logging.getLogger("motion_pg.worker")

# what compute returns per key (jsonb text): the key's version it folded onto (None: the key had
# no state of its own) and its new state, pickled
KeyUpdates = dict[str, tuple[int | None, bytes]]


@dataclass
class KeyedResult:
    """What a keyed run computed: ``updates`` of the keys that fitted, ``failed`` keys with their
    errors, and ``restart`` when a failed key had written through ``ctx.db`` (the transaction
    must be rolled back and the run computed again without the failed keys)."""

    updates: KeyUpdates = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    restart: bool = False


class _Watched(TypedDatabase):
    """``ctx.db`` counting the statements run through it (did a failed key write anything?)."""

    def __init__(self, inner: TypedDatabase) -> None:
        super().__init__(inner.conn)
        self._kinds = inner._kinds
        self.statements = 0

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[list[Any]]]:
        self.statements += 1
        return super().fetch(sql, params)


def by_key(
    computer: FitComputer, claim: KeyedClaim, definition: Definition, source: sql.Composable
) -> dict[str, list[tuple[RouteInfo, Event]]]:
    """The claim's events, read back typed, by key (jsonb text), oldest first within a key."""
    groups = typed_events.typed_groups(computer.user_db, claim.trigger, list(claim.events),
                                       definition, source, "SELECT 1")  # fmt: skip
    keyed: dict[str, list[tuple[RouteInfo, Event]]] = {}
    for route, group in groups:
        for event in group:
            keyed.setdefault(claim.keys[event.id], []).append((route, event))
    return keyed


def compute(
    computer: FitComputer, claim: KeyedClaim, definition: Definition, version: int | None,
    search_path: list[str] | None, source: sql.Composable, failed: Mapping[str, str],
) -> KeyedResult:  # fmt: skip
    """Each key's new state after its events (keys whose fits returned no updates are left out,
    keys in ``failed`` are skipped), in the caller's transaction; writes nothing of motion's."""
    trigger, db = claim.trigger, computer.db
    shared: Mapping[str, Any] = (
        computer.blobs.load(db, trigger, version) if version is not None
        else MappingProxyType({})
    )  # fmt: skip
    keyed = {k: v for k, v in by_key(computer, claim, definition, source).items()
             if k not in failed}  # fmt: skip
    heads = {canonical(r["key"]): r for r in db.query(query("key_states_head"),
                                                      [trigger, list(keyed)])}  # fmt: skip
    computer.conn.execute(computer.user_path(search_path))
    result = KeyedResult(failed=dict(failed))
    user_db = _Watched(computer.user_db)
    for text, events in keyed.items():
        head = heads.get(text)
        seen = int(head["version"]) if head is not None else None
        before = user_db.statements
        try:
            data = fit_key(computer, trigger, definition, version, shared, user_db, text, head,
                           events)  # fmt: skip
        except Exception as e:
            if computer.conn.info.transaction_status not in _OPEN:
                raise  # the fit ended the run's transaction: no key of it can commit
            result.failed[text] = (
                f'motion trigger "{trigger}": the fit of key {text} failed (its events are retried '
                "alone; the other keys' updates commit):\n" + "".join(traceback.format_exception(e))
            )  # fmt: skip
            log.warning("fit of %s failed for key %s: %s: %s", trigger, text, type(e).__name__, e)
            if user_db.statements != before:
                result.restart = True
                return result
            continue
        if data is not None:
            result.updates[text] = (seen, data)
    computer.check_transaction(trigger)
    computer.conn.execute(
        "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)"
    )
    return result


_OPEN = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)


def fit_key(
    computer: FitComputer, trigger: str, definition: Definition, version: int | None,
    shared: Mapping[str, Any], user_db: TypedDatabase, text: str, head: Mapping[str, Any] | None,
    events: list[tuple[RouteInfo, Event]],
) -> bytes | None:  # fmt: skip
    """One key's events folded onto its state (``head``: its newest row, None for a new key): its
    new state pickled, or None when its fits returned no updates. Raises what the fit raised, and
    a :class:`FitError` for a statement error it caught."""
    key = key_value(json.loads(text))
    base = Context(trigger, version or 0, shared, definition.params, user_db, None, key=key)
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
        ctx = Context(trigger, key_version, view, definition.params, user_db, route, key=key)
        updates = method([e for _, e in events[start:end]], ctx)
        if updates is not None:
            merged.update(check_updates(trigger, updates, route.fit))
        start = end
    if computer.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        computer.check_transaction(trigger)  # raises: a statement's error was caught
    if not merged:
        return None
    return checked_pickle(trigger, text, {**own, **merged})[0]


def commit(
    conn: psycopg.Connection[Any], claim: KeyedClaim, result: KeyedResult, settings: Settings
) -> int | None:
    """Write version n+1 with the keys ``result`` changed, fail the events of its failed keys
    (retried or dead, per key) and complete the others, in the caller's transaction; returns the
    version (None when no key changed). Raises :class:`LostRun` when the run is no longer its
    worker's, and a :class:`FitError` (retried) when a key's state changed while the fit ran (a
    ROLLBACK TO VERSION)."""
    db = PgDatabase(conn)
    updates = result.updates
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
    claimed = set(claim.keys.values())
    failed = [k for k in result.failed if k in claimed]
    fitted = sum(1 for k in claim.keys.values() if k not in result.failed)
    error = None
    if failed and not fitted:
        error = (f"the fit of every key of this run failed ({len(failed)}): "
                 + result.failed[failed[0]])  # fmt: skip
    fenced = db.query(
        query("finish_run"),
        [claim.run_id, claim.worker_id, "failed" if error else "succeeded", fitted, parent,
         version, error],
    )  # fmt: skip
    if not fenced:
        raise LostRun(claim.run_id)
    if failed:
        db.query(query("fail_key_jobs"), [
            claim.run_id, failed, [result.failed[k].replace("\x00", "\\x00") for k in failed],
            settings.max_attempts, settings.retry_delay, settings.retry_delay_max,
        ])  # fmt: skip
    db.query(query("complete_jobs"), [claim.run_id])
    return version
