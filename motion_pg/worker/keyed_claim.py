"""Claiming fits of keyed triggers (STATE PER): one run takes ready events of several keys that no
other run holds, so fits of different keys run in parallel on any number of workers while each
key's events are fitted one run at a time, oldest first (``claim_keyed_jobs`` in sql/queries.sql).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime.keyed import canonical, key_json
from motion_pg.trigger import Event
from motion_pg.worker.committing import Claim


@dataclass
class KeyedClaim(Claim):
    """A claim of a keyed trigger: ``keys`` maps each event id to its key (jsonb text)."""

    keys: dict[int, str] = field(default_factory=dict)


def claim(
    conn: psycopg.Connection[Any], worker_id: str, lease_seconds: float, fit_batch: int,
    excluded: list[str],
) -> KeyedClaim | None:  # fmt: skip
    """Claim the oldest ready events of one keyed trigger, of keys no running fit holds; None
    when there are none. A claim whose keys were all taken meanwhile leaves nothing behind."""
    rows: list[dict[str, Any]] = []
    for _ in range(3):  # a concurrent claimer may have taken every key this one saw: look again
        try:
            with conn.transaction():
                rows = PgDatabase(conn).query(
                    query("claim_keyed_jobs"), [worker_id, lease_seconds, fit_batch, excluded]
                )
                if not rows:
                    raise psycopg.Rollback()  # no empty run: it would show as a running fit
        except psycopg.errors.UniqueViolation:
            continue
        if rows:
            break
    if not rows:
        return None
    events = sorted(
        (Event(id=r["id"], op=r["op"], relation=r["relation"], route=r["route"],
               row=r["row_data"]) for r in rows),
        key=lambda e: e.id,
    )  # fmt: skip
    keys = {int(r["id"]): _text(r["state_key"]) for r in rows}
    return KeyedClaim(run_id=rows[0]["run_id"], trigger=rows[0]["trigger_name"], events=events,
                      worker_id=worker_id, keys=keys)  # fmt: skip


def _text(key: Any) -> str:
    return key_json(key) if isinstance(key, list) else canonical(str(key))
