"""Trigger classes for the retention tests: a counter whose state shares blobs across versions."""

from __future__ import annotations

import time
from typing import Any

import motion_pg
from motion_pg.trigger import Context, Event


class Counter(motion_pg.Trigger):
    """Counts events. ``big`` never changes (one blob shared by every version); ``hundreds``
    changes every hundred events (a blob shared by runs of versions)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "hundreds": 0, "big": "x" * 10_000, "last": None}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        count = ctx.state["count"] + len(events)
        time.sleep(float(ctx.params.get("fit_sleep", 0)))
        return {"count": count, "hundreds": count // 100, "last": events[-1].row["id"]}
