"""A trigger class whose rows of one statement write different columns (lineage column masks)."""

from __future__ import annotations

from typing import Any

import numpy as np

import motion_pg
from motion_pg import Context


class Varying(motion_pg.Trigger):
    """By ``value % 4``: writes ``doubled``; ``label``; both; or ``doubled`` as a numpy integer
    (which takes the converting path): a statement's rows carry different column sets."""

    def infer(self, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
        value = row["value"]
        kind = value % 4
        if kind == 0:
            return {"doubled": value * 2}
        if kind == 1:
            return {"label": f"odd {value}"}
        if kind == 2:
            return {"label": "both", "doubled": value * 2}
        return {"doubled": np.int64(value * 2)}
