"""The policy clauses of CREATE [OR REPLACE] MOTION TRIGGER in the catalog: the trigger's
:class:`~motion_pg.policy.Policy` (``motion.fit_policies``, applied by the worker's claim path) and
the scheduled route of ``REFIT EVERY`` (a row of ``motion.schedules`` with ``refit_every``)."""

from __future__ import annotations

import json

from motion_pg.dsl.spec import CreateMotionTrigger
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase


def write(db: PlpyDatabase, stmt: CreateMotionTrigger) -> None:
    """Record ``stmt``'s policy, replacing the previous one. Runs after the scheduled routes are
    written (which drop every other schedule row, a previous REFIT EVERY included)."""
    policy = stmt.policy
    if policy:
        db.query(query("write_fit_policy"), [stmt.name, json.dumps(policy.to_json())])
    else:
        db.query(query("delete_fit_policy"), [stmt.name])
    every = policy.refit_every
    if every is not None:
        ordinal = len(stmt.routes) + len(stmt.schedules)
        db.query(query("upsert_refit_schedule"),
                 [stmt.name, ordinal, every.text or f"{every.value} seconds", every.value])  # fmt: skip
