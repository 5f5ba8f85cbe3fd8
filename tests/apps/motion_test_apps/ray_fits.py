"""Trigger classes for the Ray executor tests (``executor = 'ray'``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import motion_pg
from motion_pg import Context, Event


def _where() -> str:
    """``'ray task'`` inside a Ray task, else ``'local'``."""
    try:
        import ray
    except ImportError:
        return "local"
    if ray.is_initialized() and ray.get_runtime_context().get_task_id() is not None:
        return "ray task"
    return "local"


class RayTally(motion_pg.Trigger):
    """Counts events and keeps their ids in order, recording where each fit ran.

    Params: ``mode`` — ``'fail'`` raises, ``'hang'`` sleeps for ``sleep`` seconds, ``'db'`` uses
    ``ctx.db``, ``'stall_once'`` writes its pid to the file ``marker`` and sleeps until killed
    (only while that file does not exist yet).
    """

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "ids": [], "where": [], "pids": []}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        mode = ctx.params.get("mode")
        if mode == "fail":
            raise ValueError(f"fit refused {len(events)} event(s) on purpose")
        if mode == "hang":
            time.sleep(float(ctx.params.get("sleep", 600)))
        if mode == "db":
            ctx.db.query("SELECT 1")
        marker = Path(str(ctx.params.get("marker", "")))
        if mode == "stall_once" and not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(600)
        return {
            "count": ctx.state["count"] + len(events),
            "ids": [*ctx.state["ids"], *(e.row["id"] for e in events)],
            "where": [*ctx.state["where"], _where()],
            "pids": [*ctx.state["pids"], os.getpid()],
        }
