"""Trigger classes for ``motion-pg replay``: a deterministic fit and a random one."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import numpy as np

import motion_pg
from motion_pg import Context, Event


class Tally(motion_pg.Trigger):
    """Counts, sums and means over its events; deterministic given its events, params and parent.

    Its state holds the Python values fit sees (Decimal for numeric, float for real, str for
    jsonb), the version each fit folded onto, and a NumPy array. ``fit`` also writes an audit row
    through ``ctx.db`` (a replay must roll it back); the ``labels`` route folds label events.
    """

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "total": Decimal(0), "weights": [], "ids": [], "labels": {},
                "onto": [], "means": np.zeros(0)}  # fmt: skip

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        scale = ctx.params.get("scale", 1)
        amounts = [e.row["amount"] for e in events if e.row["amount"] is not None]
        total = ctx.state["total"] + sum(amounts, Decimal(0)) * scale
        count = ctx.state["count"] + len(events)
        ctx.db.query("INSERT INTO fit_audit (events) VALUES ($1::integer)", [len(events)])
        return {
            "count": count,
            "total": total,
            "weights": [*ctx.state["weights"], *(e.row["weight"] for e in events)],
            "ids": [*ctx.state["ids"], *((e.id, e.op, e.row["id"], e.row["meta"]) for e in events)],
            "onto": [*ctx.state["onto"], ctx.version],
            "means": np.append(ctx.state["means"], float(total) / max(count, 1)),
        }

    def label(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        labels = dict(ctx.state["labels"])
        for e in events:
            labels[e.row["name"]] = labels.get(e.row["name"], 0) + 1
        return {"labels": labels, "count": ctx.state["count"] + len(events)}


class Noisy(Tally):
    """Like :class:`Tally`, plus a random number: its versions do not replay identically."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {**super().fit(events, ctx), "noise": random.random()}


class Words(motion_pg.Trigger):
    """Keeps a set of strings: equal sets pickle in an order that depends on the hash seed."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"words": set()}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"words": ctx.state["words"] | {f"word-{e.row['id']}" for e in events}}
