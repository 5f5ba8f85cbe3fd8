"""Trigger classes for the shared state tests: a large NumPy state and a small one."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import motion_pg
from motion_pg.trigger import Context, Event


class Embeddings(motion_pg.Trigger):
    """``mb`` megabytes of float64 (random: a REFIT makes a new blob) and a small ``scale``; infer
    writes the array's first value times ``scale`` and where the array's memory comes from."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        n = int(float(ctx.params.get("mb", 2)) * 1024 * 1024 / 8)
        weights = np.frombuffer(os.urandom(n * 8), dtype=np.float64).copy()
        weights[0] = float(ctx.params.get("first", 1.5))
        return {"weights": weights, "scale": 2}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        weights = ctx.state["weights"]
        return {"y": float(weights[0]) * ctx.state["scale"], "mapped": not weights.flags.writeable}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"scale": ctx.state["scale"] + len(events), "seen": float(ctx.state["weights"][0])}
