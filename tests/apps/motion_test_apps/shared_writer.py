"""Trigger classes for the cache-writer tests: a fit that returns a new large array."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

import motion_pg
from motion_pg.trigger import Context, Event


class Growing(motion_pg.Trigger):
    """``mb`` megabytes of float64; each fit returns a new array whose first value grew by the
    number of events; infer writes that first value and whether the array is a mapped file's."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        n = int(float(ctx.params.get("mb", 2)) * 1024 * 1024 / 8)
        weights = np.frombuffer(os.urandom(n * 8), dtype=np.float64).copy()
        weights[0] = 1.0
        return {"weights": weights}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        weights = ctx.state["weights"]
        return {"y": float(weights[0]), "mapped": not weights.flags.writeable}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        weights = np.array(ctx.state["weights"])  # a private, writable copy
        weights[0] += len(events)
        return {"weights": weights}


class KeyedGrowing(Growing):
    """Growing's large array shared by every key (``STATE PER``), and a small count per key."""

    def setup_key(self, key: Any, ctx: Context) -> dict[str, Any]:
        return {"n": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        weights = ctx.state["weights"]
        return {"y": float(weights[0]) + ctx.state["n"], "mapped": not weights.flags.writeable}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"n": ctx.state["n"] + len(events)}
