"""Trigger classes for the async infer tests (``WITH (infer_mode = 'async')``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import motion_pg
from motion_pg import Context, Event


class AsyncDoubler(motion_pg.Trigger):
    """Infers ``doubled`` and the serving version; fit counts events and keeps their values."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "values": [], "factor": ctx.params.get("factor", 2)}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        if row["value"] < 0:
            raise ValueError(f"cannot infer value {row['value']}")
        if row["value"] == 0:
            return None
        return {"doubled": row["value"] * ctx.state["factor"], "seen_version": ctx.version}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {
            "count": ctx.state["count"] + len(events),
            "values": [*ctx.state["values"], *(e.row["value"] for e in events)],
        }


class AsyncBatch(AsyncDoubler):
    """Infers a whole batch in one call, recording its size."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        return [
            {"doubled": r["value"] * ctx.state["factor"], "seen_version": ctx.version,
             "batch_size": len(rows)}
            for r in rows
        ]  # fmt: skip


class AsyncHeld(AsyncDoubler):
    """Creates the file ``entered`` in directory param ``dir``, then waits (10 s at most) for a
    file ``release`` there before inferring: the race test updates the row meanwhile."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        where = Path(str(ctx.params["dir"]))
        (where / "entered").touch()
        deadline = time.monotonic() + 10
        while not (where / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return super().infer(row, ctx)


class SlowBatch(motion_pg.Trigger):
    """A model server call: ``delay`` seconds (default 0.2) per infer_batch call, whatever the
    batch size (the freshness bench)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {}

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        time.sleep(float(ctx.params.get("delay", 0.2)))
        return [{"label": f"label-{r['id']}"} for r in rows]


class SlowRow(SlowBatch):
    """``delay`` seconds per row (an LLM call per row); the worker calls rows on its threads."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        time.sleep(float(ctx.params.get("delay", 0.2)))
        return {"label": f"label-{row['id']}"}

    infer_batch = None  # type: ignore[assignment]
