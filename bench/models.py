"""The bench's trigger classes (imported by the database server and by the workers)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

import motion_pg
from motion_pg import Context, Event


class Trivial(motion_pg.Trigger):
    """``y = 2 x``: the same computation as the hand-written baseline triggers."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"y": row["x"] * 2}


class TrivialFit(Trivial):
    """Trivial infer and a trivial fit (counts events)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"n": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"n": ctx.state["n"] + len(events)}


class Stamped(TrivialFit):
    """Appends ``<row id> <time the fit started>`` to the file named by param ``log``."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        started = time.time()
        with open(str(ctx.params["log"]), "a", encoding="utf-8") as f:
            f.write("".join(f"{e.row['id']} {started!r}\n" for e in events))
        return super().fit(events, ctx)


def _training() -> tuple[Any, Any]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 4))
    return x, (x @ np.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(int)


class Sklearn(motion_pg.Trigger):
    """A scikit-learn logistic regression over four float columns; ``infer`` row by row."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        from sklearn.linear_model import LogisticRegression

        return {"model": LogisticRegression().fit(*_training())}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        x = np.array([[row["a"], row["b"], row["c"], row["d"]]])
        return {"label": int(ctx.state["model"].predict(x)[0])}


class SklearnBatch(Sklearn):
    """The same model, vectorised: one ``predict`` per statement."""

    def infer_batch(self, rows: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        x = np.array([[r["a"], r["b"], r["c"], r["d"]] for r in rows])
        return [{"label": int(v)} for v in ctx.state["model"].predict(x)]


class BigState(motion_pg.Trigger):
    """A state of ``mb`` megabytes of float64 (random, so it neither compresses nor dedupes)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        n = int(float(ctx.params.get("mb", 50)) * 1024 * 1024 / 8)
        return {"weights": np.frombuffer(os.urandom(n * 8), dtype=np.float64)}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"y": row["x"] + len(ctx.state["weights"]) * 0}


class Noop(motion_pg.Trigger):
    """A fit that does nothing but count, for draining the queue."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"n": 0}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"n": ctx.state["n"] + len(events)}
