"""Trigger classes for the dashboard tests: light state that each fit changes, and a failing fit."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg.trigger import Context, Event


class Counter(motion_pg.Trigger):
    """Counts and sums the values it fits; keeps a label that never changes."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "total": 0, "label": "counter"}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"seen_version": ctx.version}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        values = [e.row["value"] or 0 for e in events]
        return {
            "count": ctx.state["count"] + len(values),
            "total": ctx.state["total"] + sum(values),
        }


class Failing(Counter):
    """Every fit raises, so its jobs end dead."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        raise RuntimeError("this fit always fails")
