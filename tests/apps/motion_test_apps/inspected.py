"""Trigger classes for the state inspection tests: varied state values, and a fit that fails."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

import motion_pg
from motion_pg.trigger import Context, Event


class Varied(motion_pg.Trigger):
    """State of JSON values, NumPy values and a fitted sklearn model; fit counts events."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
        return {
            "count": 0,
            "name": "varied",
            "nested": {"a": [1, 2.5, None, True]},
            "weights": np.array([1.0, 2.0, 3.0]),
            "scale": np.float64(0.5),
            "big": np.zeros(5000),
            "model": model,
        }

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"seen_version": ctx.version}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state["count"] + len(events)}


class FailingFit(Varied):
    """Every fit raises, so its jobs end dead."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        raise RuntimeError("this fit always fails")
