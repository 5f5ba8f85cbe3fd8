"""Trigger classes for the backfill tests: each infer counts itself in the row (``hits``)."""

from __future__ import annotations

import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Scaler(motion_pg.Trigger):
    """Infers ``out = value * factor`` (factor from state), ``seen`` (the version served) and
    ``hits`` (how many times infer ran on the row); each fit adds 1 to factor. Param ``sleep``:
    seconds infer sleeps per row (to make a backfill slow enough to kill)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"factor": 2}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        delay = float(ctx.params.get("sleep") or 0)
        if delay:
            time.sleep(delay)
        value = row["value"] or 0
        return {"out": value * ctx.state["factor"], "seen": ctx.version,
                "hits": (row["hits"] or 0) + 1}  # fmt: skip

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"factor": ctx.state["factor"] + 1}


class BatchScaler(Scaler):
    """Scaler in batch mode (``infer_batch`` only)."""

    infer = None  # type: ignore[assignment]

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        return [Scaler.infer(self, r, ctx) for r in rows]


class Follower(motion_pg.Trigger):
    """Another trigger on the same table, routed on ``out``: infers ``other = out + 1`` and
    counts its calls in ``other_hits``; fit does nothing."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"other": (row["out"] or 0) + 1, "other_hits": (row["other_hits"] or 0) + 1}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {}
