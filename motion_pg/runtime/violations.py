"""Checking rows against a trigger's expectations in infer (:mod:`motion_pg.runtime.expect`).

Runs in the backend, after infer wrote its outputs into the row: under ``on_violation = 'raise'``
(the default) the statement fails with SQLSTATE MP300 naming trigger, relation, row key and
column; under ``'record'`` the row is stored and each broken rule becomes a row of
``motion.violations``, in the writing transaction (a rollback takes it away with the row).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from motion_pg.errors import InferError
from motion_pg.queries import query
from motion_pg.runtime import expect
from motion_pg.runtime.routes import LoadedTrigger, Route

_record: Any = None  # the plan recording a violation


def check_rows(
    plpy: Any, loaded: LoadedTrigger, route: Route, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Check each of ``rows`` (as they are stored) against the served ``expect`` setting."""
    text = loaded.settings.expect
    if text is None:
        return
    expectations = expect.parsed(text)
    for row in rows:
        found = expectations.check(row)
        if not found:
            continue
        key = {c: row.get(c) for c in route.key_columns}
        if loaded.settings.on_violation == "record":
            for column, value, wrong in found:
                record(plpy, loaded.name, "infer", route.info.relation, key, column, value, wrong)
            continue
        from motion_pg.runtime.outputs import key_text

        column, _, wrong = found[0]
        plpy.error(
            expect.message(loaded.name, route.info.relation, key_text(key), column, wrong, "infer"),
            sqlstate=InferError.sqlstate,
            hint=expect.HINT,
        )


def record(
    plpy: Any, trigger: str, stage: str, relation: str, key: Mapping[str, Any], column: str,
    value: Any, problem: str,
) -> None:  # fmt: skip
    """One row of ``motion.violations``."""
    global _record
    plan = _record
    if plan is None:
        plan = _record = plpy.prepare(
            query("record_violation"), ["text", "text", "text", "text", "text", "text", "text"]
        )
    plan.execute([trigger, stage, relation, json.dumps(key, default=str), column,
                  None if value is None else str(value), problem])  # fmt: skip
