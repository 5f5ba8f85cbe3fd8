"""Trigger classes of the live-experiment tests (SHADOW OF / CANARY OF, motion.compare)."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class Baseline(motion_pg.Trigger):
    """Labels a row by its value: ``'even'``/``'odd'``; fit counts events."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "ids": []}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"label": "even" if row["value"] % 2 == 0 else "odd", "score": 1.0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {
            "count": ctx.state["count"] + len(events),
            "ids": [*ctx.state["ids"], *(e.row["id"] for e in events)],
        }


class Variant(Baseline):
    """Labels every multiple of 4 ``'even'``, the rest ``'odd'``: agrees with Baseline on 3/4 of
    the values 0..3 (2 is where they differ)."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"label": "even" if row["value"] % 4 == 0 else "odd", "score": 0.5}


class Failing(Baseline):
    """Fails on every row: a shadow of it must never fail the writer."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        raise ValueError(f"cannot label value {row['value']}")


class BadOutput(Baseline):
    """Returns a column the relation does not have."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"no_such_column": 1}
