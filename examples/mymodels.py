"""The README's quickstart trigger: doubles a value, and counts what fit has seen."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class Doubler(motion_pg.Trigger):
    """``doubled = value * factor``, inferred in the INSERT's transaction."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        """The first state (version 1); ``ctx.db`` could read existing data here."""
        return {"factor": 2, "seen": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        """Runs in the writing transaction; ``ctx.state`` is read-only."""
        return {"doubled": row["value"] * ctx.state["factor"]}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        """Runs in the worker after commit, oldest first; the result becomes version n+1."""
        return {"seen": ctx.state["seen"] + len(events)}
