"""Trigger classes for the observability tests (metrics figures, batch latency, REFIT progress)."""

from __future__ import annotations

import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


class SlowBatch(motion_pg.Trigger):
    """Batch mode: ``infer_batch`` sleeps param ``sleep`` seconds per call, infers ``doubled``."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        time.sleep(float(ctx.params.get("sleep") or 0))
        return [{"doubled": r["value"] * 2} for r in rows]

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class Doubler(motion_pg.Trigger):
    """Row mode: infers ``doubled``; setup reads every row of ``items`` (a REFIT over many rows)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        rows = ctx.db.query("SELECT value FROM items")
        return {"count": len(rows), "total": sum(r["value"] or 0 for r in rows)}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": (row["value"] or 0) * 2}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}
