"""The worker's side of refit policies: before each claim, ask the database which triggers their
policy holds (``FIT WHEN`` not met, or paused by a drift) and which it refits (``REFIT WHEN``
met); the claim then skips the held ones. Python decided what each clause means when the trigger
was created (:mod:`motion_pg.policy`); this applies it (``policy_gate`` in sql/queries.sql)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query

log = logging.getLogger("motion_pg.worker")


def enqueue_refit(conn: psycopg.Connection[Any], trigger: str, reason: str) -> int | None:
    """Enqueue a REFIT job for ``trigger`` unless one is pending already; returns its id. The
    trigger's drift status row lock makes concurrent workers enqueue one."""
    db = PgDatabase(conn)
    with conn.transaction():
        db.query(query("ensure_drift_status"), [trigger])
        rows = db.query(query("lock_drift_status"), [trigger])
        if not rows or rows[0]["refit_pending"]:
            return None
        made = db.query(query("enqueue_refit"), [trigger, reason])
    job = int(made[0]["id"]) if made else None
    if job is not None:
        log.info("%s: refit enqueued (job %s): %s", trigger, job, reason)
    return job


def held_triggers(conn: psycopg.Connection[Any]) -> list[str]:
    """The triggers the next claim must skip; records the releases and enqueues the refits
    policies ask for."""
    held: list[str] = []
    db = PgDatabase(conn)
    for row in db.query(query("policy_gate")):
        if row["action"] == "refit":
            enqueue_refit(conn, row["name"], "REFIT WHEN policy met")
        elif row["action"] == "release":
            db.query(query("release_policy"), [row["name"], row["newest"]])
        elif row["action"] == "hold":
            held.append(row["name"])
    return held
