"""The capacity bench's trigger classes (group C): a scikit-learn fit, and a trivial async infer.

Imported by the database server (setup, sync infer) and by the workers (fit, async infer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import motion_pg
from motion_pg import Context, Event


class SkFit(motion_pg.Trigger):
    """An ``SGDClassifier`` trained incrementally: one ``partial_fit`` per fit call over the
    events' four float columns (label: the sign of a fixed linear combination)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        from sklearn.linear_model import SGDClassifier

        return {"model": SGDClassifier(loss="log_loss"), "n": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        x = np.array([[e.row["a"], e.row["b"], e.row["c"], e.row["d"]] for e in events])
        y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(int)
        model = ctx.state["model"]
        model.partial_fit(x, y, classes=[0, 1])
        return {"model": model, "n": ctx.state["n"] + len(events)}


class AsyncTrivial(motion_pg.Trigger):
    """``y = 2 x``, inferred by the worker (``infer_mode = 'async'``, or any managed install)."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        return [{"y": r["x"] * 2} for r in rows]
