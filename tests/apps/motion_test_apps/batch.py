"""Trigger classes with ``infer_batch``, for the batch infer tests."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class BatchCounter(motion_pg.Trigger):
    """Infers ``doubled``, the serving version and the size of the call's batch; fit counts."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "ids": [], "factor": ctx.params.get("factor", 2)}

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        factor = ctx.state["factor"]
        return [
            {"doubled": r["value"] * factor, "seen_version": ctx.version, "batch_size": len(rows)}
            for r in rows
        ]

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {
            "count": ctx.state["count"] + len(events),
            "ids": [*ctx.state["ids"], *(e.row["id"] for e in events)],
        }


class BatchRaises(BatchCounter):
    """Fails on rows whose value is negative."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        for r in rows:
            if r["value"] < 0:
                raise ValueError(f"cannot infer value {r['value']}")
        return super().infer_batch(rows, ctx)


class BatchWrongLength(BatchCounter):
    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        return [{"doubled": 1}]


class BatchWrongType(BatchCounter):
    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        return [{"doubled": "x"} if r["value"] == 3 else {"doubled": 0} for r in rows]


class BatchAndRow(BatchCounter):
    """Defines both: INSERTs use infer_batch, UPDATEs use infer."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": row["value"] * 10, "batch_size": 0}
