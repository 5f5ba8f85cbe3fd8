"""Trigger classes for refit policies and drift (tests/integration/test_fit_policy.py,
test_drift.py): a mean of ``readings.value`` whose setup reads every row and whose fit folds each
batch, recording the batch sizes, so a test sees when fit ran, with how many events, and when a
refit rebuilt the state."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class Mean(motion_pg.Trigger):
    """State: ``count``, ``total``, ``batches`` (sizes of each fit call), ``setups`` (how many
    times setup ran; a refit starts again at 1 since its state replaces the old one)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        rows = ctx.db.query("SELECT count(*) AS n, coalesce(sum(value), 0) AS s FROM readings")
        return {"count": int(rows[0]["n"]), "total": float(rows[0]["s"]), "batches": [],
                "setups": 1}  # fmt: skip

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        count = ctx.state["count"]
        return {"predicted": ctx.state["total"] / count if count else None}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        rows = [e.row for e in events if e.op in ("INSERT", "UPDATE")]
        return {
            "count": ctx.state["count"] + len(rows),
            "total": ctx.state["total"] + sum(float(r["value"]) for r in rows),
            "batches": [*ctx.state["batches"], len(events)],
        }


class SnapshotMean(Mean):
    """Setup reads ``readings`` twice with a pause between (the test writes rows during the
    pause): a refit that reads one snapshot counts the same rows both times."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        first = ctx.db.query("SELECT count(*) AS n FROM readings")
        ctx.db.query("SELECT pg_sleep(2) AS motion_test_snapshot_pause")
        second = ctx.db.query("SELECT count(*) AS n, coalesce(sum(value), 0) AS s FROM readings")
        return {"count": int(second[0]["n"]), "total": float(second[0]["s"]), "batches": [],
                "setups": 1, "first_count": int(first[0]["n"])}  # fmt: skip
