"""motion_pg's side of the peer rows (P1-P4): the same counter and ZScore as ``bench/motion_peer.py``
writes for Motion, as motion triggers (imported by the database server and by the workers)."""

from __future__ import annotations

import math
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Counter(motion_pg.Trigger):
    """Serve ``count + value`` into the row; fit adds the values to ``count``."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"result": ctx.state["count"] + row["value"]}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + sum(e.row["value"] for e in events)}


class ZScore(motion_pg.Trigger):
    """Serve the z-score of ``value`` against the running mean and variance (Welford's)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"n": 0, "mean": 0.0, "m2": 0.0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        n, mean, m2 = ctx.state["n"], ctx.state["mean"], ctx.state["m2"]
        std = math.sqrt(m2 / (n - 1)) if n > 1 else 0.0
        return {"z": (row["value"] - mean) / std if std > 0 else 0.0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        n, mean, m2 = ctx.state["n"], ctx.state["mean"], ctx.state["m2"]
        for e in events:
            n += 1
            delta = e.row["value"] - mean
            mean += delta / n
            m2 += delta * (e.row["value"] - mean)
        return {"n": n, "mean": mean, "m2": m2}
