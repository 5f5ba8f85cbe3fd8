"""A trigger for the metrics and CLI tests: infer doubles ``value``; fit counts events and fails
on the value given as the ``poison`` param."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class Observed(motion_pg.Trigger):
    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": row["value"] * 2}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        if ctx.params.get("poison") in {e.row["value"] for e in events}:
            raise ValueError("poisoned event")
        return {"count": ctx.state["count"] + len(events)}
