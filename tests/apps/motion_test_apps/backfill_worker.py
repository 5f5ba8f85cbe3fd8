"""Trigger classes for the backfill tests of the worker's loop and of array outputs."""

from __future__ import annotations

from typing import Any

import motion_pg
from motion_pg import Context, Event


class Tagger(motion_pg.Trigger):
    """Infers an array output: ``tags = [value, value * 2]``."""

    def setup(self, ctx: Context) -> dict[str, Any]:
        return {}

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        value = row["value"] or 0
        return {"tags": [value, value * 2]}

    def fit(self, events: list[Event], ctx: Context) -> dict[str, Any]:
        return {}
