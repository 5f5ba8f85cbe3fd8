"""Replaying a keyed trigger's versions (STATE PER): what ``motion-pg replay`` does for them.

A keyed ``fit`` version records only the keys its run changed (``motion.key_states``). Each is
rebuilt from the key's state before the version (its newest row below it), the run's events of that
key and the version's recorded params, settings and code, through the worker's own per-key fit
(:func:`~motion_pg.worker.keyed_fit.fit_key`) in a transaction that is always rolled back; then
each key's digest is compared with the stored one. ``--key`` rebuilds one key only. A keyed
``rollback`` version is checked key by key against the states it restored, without running code.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg import sql

from motion_pg.errors import FitError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime.keyed import canonical
from motion_pg.trigger import Event
from motion_pg.worker import keyed_fit
from motion_pg.worker.fit_definition import MOTION_PATH, Definition
from motion_pg.worker.fitting import FitComputer
from motion_pg.worker.keyed_claim import KeyedClaim
from motion_pg.worker.replay_result import Entry, ReplayRefused, ReplayResult, same_value

_NONE = Entry("none", 0)  # a key with no state of its own at a version (data NULL)


def stored_keys(db: PgDatabase, trigger: str, version: int, key: str | None) -> dict[str, Entry]:
    """The keys version ``version`` changed (only ``key`` when given), with their digests."""
    return {
        canonical(r["key"]): Entry(r["digest"], int(r["size"])) if r["digest"] else _NONE
        for r in db.query(query("key_states_of_version"), [trigger, version, key])
    }


def refused(trigger: str, version: int, why: str, hint: str) -> ReplayRefused:
    return ReplayRefused(
        f'cannot replay motion trigger "{trigger}" version {version}: {why}', hint=hint
    )


def check_key(db: PgDatabase, trigger: str, version: int, key: str) -> None:
    """Refuse when version ``version`` did not change ``key`` (naming the version that did)."""
    if db.query(query("key_states_of_version"), [trigger, version, key]):
        return
    rows = db.query(query("key_state_at"), [trigger, key, version])
    where = (
        f"replay version {rows[0]['version']}, the newest at or below {version} that changed it"
        if rows
        else "no version up to it changed that key"
    )
    raise refused(trigger, version, f"it did not change key {key}", where)


def rebuild(
    conn: psycopg.Connection[Any], trigger: str, number: int, parent: int | None, run_id: int,
    params: Any, settings: Any, code_digest: str, events: list[Event], source: sql.Composable,
    key: str | None,
) -> ReplayResult:  # fmt: skip
    """Version ``number`` (a keyed fit of run ``run_id`` onto ``parent``) rebuilt from ``events``
    (read back from ``source``) and compared key by key with the stored one; only ``key`` when
    given. What user code raises propagates."""
    db = PgDatabase(conn)
    keys_of = {
        int(r["id"]): canonical(r["key"])
        for r in db.query(query("event_keys"), [trigger, [e.id for e in events]])
    }
    if key is not None:
        events = [e for e in events if keys_of.get(e.id) == key]
    stored = stored_keys(db, trigger, number, key)
    rebuilt_data = _fit(conn, trigger, number, parent, run_id, params, settings, code_digest,
                        events, keys_of, source)  # fmt: skip
    rebuilt = {k: Entry.of(d) for k, d in rebuilt_data.items() if d is not None}
    keys = len({keys_of[e.id] for e in events})
    basis = (
        f"keyed fit of run {run_id}: {len(events)} event(s) of {keys} key(s), each onto its "
        f"state before version {number}"
    )
    result = ReplayResult(trigger, number, "fit", basis, stored, rebuilt, events=len(events))
    for d in result.differences:
        data = rebuilt_data.get(d.key)
        if d.change == "changed" and data is not None:
            found = db.query(query("key_state_at"), [trigger, d.key, number])
            if found and found[0]["data"] is not None and same_value(bytes(found[0]["data"]), data):
                result.notes.append(
                    f"key {d.key}: the values compare equal but their pickles differ (e.g. the "
                    "order of a set of strings, which changes with each process's hash seed)"
                )
    return result


def _fit(
    conn: psycopg.Connection[Any], trigger: str, number: int, parent: int | None, run_id: int,
    params: Any, settings: Any, code_digest: str, events: list[Event], keys_of: dict[int, str],
    source: sql.Composable,
) -> dict[str, bytes | None]:  # fmt: skip
    computer = FitComputer(conn)
    db = computer.db
    with conn.transaction(force_rollback=True):
        conn.execute(MOTION_PATH)
        rows = db.query(query("trigger_definition"), [trigger])
        if not rows:
            raise FitError(f'motion trigger "{trigger}" no longer exists')
        routes = db.query(query("trigger_routes"), [trigger])
        scheduled = db.query(query("trigger_schedules"), [trigger])
        row = {**rows[0], "params": params, "settings": settings}
        definition = Definition(db, row, routes, code_digest, scheduled)
        claim = KeyedClaim(run_id, trigger, events, keys=keys_of)
        grouped = keyed_fit.by_key(computer, claim, definition, source)
        shared: Mapping[str, Any] = (
            computer.blobs.load(db, trigger, parent) if parent is not None
            else MappingProxyType({})
        )  # fmt: skip
        heads = {
            canonical(r["key"]): r
            for r in db.query(query("key_states_before"), [trigger, list(grouped), number])
        }
        conn.execute(computer.user_path(rows[0]["search_path"]))
        out: dict[str, bytes | None] = {}
        for text, found in grouped.items():
            out[text] = keyed_fit.fit_key(computer, trigger, definition, parent, shared,
                                          computer.user_db, text, heads.get(text), found)  # fmt: skip
        return out


def restored(
    db: PgDatabase, trigger: str, number: int, base: int, key: str | None
) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """A keyed ROLLBACK TO VERSION ``base`` written as ``number``: each key it wrote back, as
    stored and as it was at ``base`` (no code runs)."""
    stored = stored_keys(db, trigger, number, key)
    then = {
        canonical(r["key"]): Entry(r["digest"], int(r["size"])) if r["digest"] else _NONE
        for r in db.query(query("key_digests_at"), [trigger, list(stored), base])
    }
    return stored, {k: then.get(k, _NONE) for k in stored}
