"""Trigger classes whose infer scribbles on the row it is handed: only what infer returns may
reach the stored row."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context


class Scribbles(motion_pg.Trigger):
    """Doubles ``value``, after overwriting every column of its row argument."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
        value = row["value"]
        for column in list(row):
            row[column] = -1
        row["no_such_column"] = 1
        return {"doubled": value * 2} if value != 0 else None
