"""Trigger classes for tests/integration/test_async_modes.py: async infer isolated in a child
process (pids, a hanging row, a crashing row) and chains through async write-backs."""

from __future__ import annotations

import os
import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Pid(motion_pg.Trigger):
    """Writes ``doubled`` and the pid of the process that ran infer into ``note``."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": row["value"] * 2, "note": str(os.getpid())}


class Troubled(motion_pg.Trigger):
    """Doubles ``value``; hangs for a minute on 13 and kills its process on 66."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        if row["value"] == 13:
            time.sleep(60)
        if row["value"] == 66:
            os._exit(3)
        return {"doubled": row["value"] * 2}


class Upstream(motion_pg.Trigger):
    """``doubled = value * 2``, declared as its output (chains read it)."""

    outputs = ("doubled",)

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"doubled": row["value"] * 2}


class Downstream(motion_pg.Trigger):
    """``quadrupled = doubled * 2`` (reads Upstream's output); counts its infer calls per row in
    ``calls``."""

    outputs = ("quadrupled", "calls")

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        d = row["doubled"]
        return {"quadrupled": None if d is None else d * 2, "calls": (row["calls"] or 0) + 1}


class Unrelated(motion_pg.Trigger):
    """Reads only ``value``; counts its infer calls per row in ``other_calls``; fits count."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"events": 0}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"other_calls": (row["other_calls"] or 0) + 1}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {"events": ctx.state["events"] + len(events)}
