"""Trigger classes for tests/integration/test_outlier_plan.py."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class SeesSettings(motion_pg.Trigger):
    """Fit records the planner settings its SQL runs with (motion's own statements run without
    sequential scans; user code must get the connection's own settings back)."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        row = ctx.db.query(
            "SELECT current_setting('enable_seqscan') AS seqscan, current_setting('jit') AS jit"
        )[0]
        return {"seqscan": row["seqscan"], "jit": row["jit"], "n": len(events)}
