"""Drift: per trigger that keeps drift profiles, its verdict and a chart of each profiled column's
last test against its threshold (``motion.drift_figures``, written by the worker's drift step).

Statistics differ in direction: a p-value drifts when it falls *below* its threshold, a distance
when it rises *above* it. The chart puts both on one scale, the drift score: ``log(p) / log(t)``
for a p-value, ``d / t`` for a distance; 1 is the threshold, beyond it the column drifted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.dashboard import charts
from motion_pg.dashboard.db import Db, database
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.web import config, render

TOP = 3.0  # scores beyond three times the threshold are drawn to the chart's edge


def available(db: Db) -> bool:
    """Whether the database has drift figures (schema 0.4 on)."""
    row = db.one("drift_available")
    return bool(row and row["available"])


def score(statistic: str, value: float | None, threshold: float) -> float | None:
    """The drift score of a test: 1 at the threshold, above 1 drifted (see the module doc)."""
    if value is None:
        return None
    if statistic.endswith("p_value"):
        if not 0 < threshold < 1:
            return None
        return math.log(max(value, 1e-300)) / math.log(threshold)
    return value / threshold if threshold > 0 else None


def _text(r: dict[str, Any]) -> str:
    if r["value"] is None:
        return f"{r['statistic']}: too few events ({r['current_count']})"
    sign = "<" if r["statistic"].endswith("p_value") else ">"
    return f"{r['statistic']} {r['value']:.3g} (drift {sign} {r['threshold']:g})"


def triggers(db: Db) -> list[dict[str, Any]]:
    """One entry per trigger: its verdict, its columns and their chart."""
    by_trigger: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in db.rows("drift_columns"):
        by_trigger[r["trigger_name"]].append(r)
    found = []
    for name, columns in by_trigger.items():
        bars = []
        for r in columns:
            s = score(r["statistic"], r["value"], r["threshold"])
            bars.append(charts.Bar(f"{r['column_name']}", s or 0.0, _text(r), bool(r["drifted"])))
        first = columns[0]
        found.append({
            "name": name, "columns": columns, "share": first["trigger_share"],
            "drifted": first["trigger_drifted"], "since": first["trigger_since"],
            "on_drift": first["on_drift"],
            "chart": charts.bar_chart(bars, title=f"drift of {name}'s columns", mark=1.0,
                                      mark_label="threshold", top=TOP),
        })  # fmt: skip
    return found


def drift_page(request: Request) -> Response:
    """Every trigger's drift."""
    with database(config(request).dsn) as db:
        if not available(db):
            return render(request, db, "drift.html", {"missing": True}, status_code=404)
        return render(request, db, "drift.html", {"missing": False, "triggers": triggers(db)})


page = Page("Drift", "/drift", [Route("/drift", drift_page, name="drift")], available)
