"""Trigger classes the integration tests create motion triggers from."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

import motion_pg
from motion_pg import Context, Event


class Counter(motion_pg.Trigger):
    """Infers ``doubled`` and the serving version; fit counts events and keeps their ids in order."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "ids": [], "factor": ctx.params.get("factor", 2)}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": row["value"] * ctx.state["factor"], "seen_version": ctx.version}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {
            "count": ctx.state["count"] + len(events),
            "ids": [*ctx.state["ids"], *(e.row["id"] for e in events)],
        }


class SlowInfer(Counter):
    """Sleeps in infer on the row whose value is 1, so a test can serve a new version meanwhile."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        if row["value"] == 1:
            ctx.db.query("SELECT pg_sleep($1::float8)", [float(ctx.params.get("sleep", 1.0))])
        return {"seen_version": ctx.version, "doubled": row["value"] * 2}


class Mutator(Counter):
    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        ctx.state["count"] = 99  # type: ignore[index]
        return {}


class Raises(Counter):
    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        raise ValueError(f"cannot infer value {row['value']}")


class WrongColumn(Counter):
    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"no_such_column": 1}


class WrongType(Counter):
    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": "not a number"}


class FitFails(Counter):
    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        raise RuntimeError("fit exploded")


class SlowFit(Counter):
    """Fit takes ``fit_sleep`` seconds, for killing a worker mid-fit."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        marker = ctx.params.get("marker")
        if marker:
            with open(str(marker), "a") as f:
                f.write(f"{os.getpid()}\n")
        time.sleep(float(ctx.params.get("fit_sleep", 2.0)))
        return super().fit(events, ctx)


class Embedder(motion_pg.Trigger):
    """Writes a pgvector column from a NumPy array."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        vec = np.arange(3, dtype=np.float32) + float(row["value"])
        return {"embedding": vec}


class FitOnly(motion_pg.Trigger):
    def setup(self, ctx: Context) -> dict[str, Any]:
        rows = ctx.db.query("SELECT count(*) AS n FROM items")
        return {"seen_at_setup": rows[0]["n"], "labels": []}

    def learn(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"labels": [*ctx.state["labels"], *(e.row["label"] for e in events)]}


class Extender(Counter):
    """Fit adds a key setup does not make, so a REFIT can be seen to start afresh."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {**super().fit(events, ctx), "extra": len(events)}
