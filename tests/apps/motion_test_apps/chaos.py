"""Trigger classes for the reliability suite: a counter whose fit can be slow, poisoned or lethal."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from typing import Any

import motion_pg
from motion_pg import Context, Event


class Tally(motion_pg.Trigger):
    """Fit folds events into a count and the ordered list of fitted ids.

    Params: ``fit_sleep`` (seconds per fit call), ``marker`` (a file each fit start appends its
    pid to), ``poison`` (a value whose event raises) and ``lethal`` (a value whose event makes the
    fit process kill itself).
    """

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {"count": 0, "ids": []}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        marker = ctx.params.get("marker")
        if marker:
            with open(str(marker), "a") as f:
                f.write(f"{os.getpid()} {events[0].row['id']}\n")
        values = {e.row["value"] for e in events}
        if ctx.params.get("poison") in values:
            raise ValueError("poisoned event")
        if ctx.params.get("lethal") in values:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(ctx.params.get("fit_sleep", 0)))
        return {
            "count": ctx.state["count"] + len(events),
            "ids": [*ctx.state["ids"], *(e.row["id"] for e in events)],
        }


class Crashing(Tally):
    """Fit crashes the way ``crash`` says: ``exit`` (sys.exit), ``segv`` (a segfault) or ``hang``."""

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        how = ctx.params.get("crash")
        if how == "exit":
            sys.exit(3)
        if how == "segv":
            ctypes.string_at(0)
        if how == "hang":
            time.sleep(3600)
        return super().fit(events, ctx)
