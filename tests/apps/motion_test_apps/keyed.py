"""Trigger classes with STATE PER (keyed state), for tests/integration/test_keyed_state.py."""

from __future__ import annotations

import os
import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Summary(motion_pg.Trigger):
    """A running summary per user: how many messages and the last one. ``setup`` holds what every
    user shares (a greeting); ``setup_key`` marks a user's first state. Each fit call is logged
    into ``fit_log`` through ``ctx.db`` (it commits with the fit), with its time span and process."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"greeting": ctx.params.get("greeting", "hi"), "count": 0}

    def setup_key(self, key: Any, ctx: Context) -> dict[str, Any]:
        return {"since": f"new:{key}"}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        s = ctx.state
        return {
            "seen": s["count"],
            "note": f"{s['greeting']}:{s['since']}:{ctx.key}:{s.get('last')}",
            "key_version": ctx.version,
        }

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        started = time.time()
        time.sleep(float(ctx.params.get("fit_sleep", 0)))
        keys = sorted({e.row["user_id"] for e in events})
        ctx.db.query(
            "INSERT INTO fit_log (key, user_ids, ids, started, ended, pid)"
            " VALUES ($1::text, $2::int[], $3::bigint[], $4::float8, $5::float8, $6::int)",
            [str(ctx.key), keys, [e.id for e in events], started, time.time(), os.getpid()],
        )
        return {"count": ctx.state["count"] + len(events), "last": events[-1].row["body"]}


class PairKey(motion_pg.Trigger):
    """STATE PER (org, user_id): ``ctx.key`` is a tuple; counts per pair."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"seen": ctx.state.get("count", 0), "note": repr(ctx.key)}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"count": ctx.state.get("count", 0) + len(events)}


class Fragile(Summary):
    """:class:`Summary` whose fit fails for a key with a message ``boom`` (after its ``ctx.db``
    write when the body is ``boom-db``; without touching the database for ``boom``)."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        if any(e.row["body"] == "boom" for e in events):
            raise ValueError(f"boom in key {ctx.key}")
        updates = super().fit(events, ctx)
        if any(e.row["body"] == "boom-db" for e in events):
            raise ValueError(f"boom after a write, key {ctx.key}")
        return updates
