"""Trigger classes for the fit budget and the fit process's state memory (tests/*/test_fold.py)."""

from __future__ import annotations

import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Batches(motion_pg.Trigger):
    """Fit records each call's event ids, so a test sees how events were batched and in what
    order. Param ``per_event``: seconds each event costs the fit."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"batches": [], "kept": "from setup"}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        # a key no fit updates: every fit must still see it (the fit process's state memory)
        assert ctx.state["kept"] == "from setup", dict(ctx.state)
        time.sleep(float(ctx.params.get("per_event", 0)) * len(events))
        return {"batches": [*ctx.state["batches"], [e.row["id"] for e in events]]}
