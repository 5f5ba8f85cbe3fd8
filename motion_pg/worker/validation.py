"""Checking fit events against a trigger's expectations (:mod:`motion_pg.runtime.expect`).

Before the fit methods see a claim's events, each event's row is checked: under
``on_violation = 'raise'`` the fit fails (FitError, retried then dead like any failing fit) naming
trigger, relation, row key, event and column, so a poisoned stream never trains the model; under
``'record'`` the event is left out of the fit and each broken rule is recorded in
``motion.violations`` in the fit's transaction (it commits with the fit, or not at all).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from motion_pg.errors import FitError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import expect
from motion_pg.settings import Settings
from motion_pg.trigger import Event, RouteInfo

Groups = list[tuple[RouteInfo, list[Event]]]


def screen(
    db: PgDatabase, trigger: str, settings: Settings, keys: Mapping[int, Sequence[str]],
    groups: Groups,
) -> Groups:  # fmt: skip
    """``groups`` without the events that break an expectation (``'record'``); raises
    :class:`FitError` on the first one under ``'raise'``."""
    if settings.expect is None:
        return groups
    expectations = expect.parsed(settings.expect)
    kept: Groups = []
    for route, events in groups:
        good = []
        for event in events:
            found = expectations.check(event.row)
            if not found:
                good.append(event)
                continue
            key = {c: event.row.get(c) for c in keys.get(route.ordinal, ())}
            if settings.on_violation != "record":
                from motion_pg.runtime.outputs import key_text

                column, _, wrong = found[0]
                where = f"fit (event {event.id})"
                raise FitError(
                    expect.message(trigger, route.relation, key_text(key), column, wrong, where),
                    hint=expect.HINT,
                )
            for column, value, wrong in found:
                db.query(query("record_violation"), [
                    trigger, "fit", route.relation, json.dumps(key, default=str), column,
                    None if value is None else str(value), wrong,
                ])  # fmt: skip
        if good:
            kept.append((route, good))
    return kept
