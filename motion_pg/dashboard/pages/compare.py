"""Experiments (SHADOW OF / CANARY OF) and the comparison report of ``motion.compare``: rows seen,
each side's infer latency, errors, fits and state, agreement per output column with confusion
tables, and accuracy against a label column when one is given."""

from __future__ import annotations

from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.dashboard import charts
from motion_pg.dashboard.db import Db, database
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.web import config, render

SIDE = [
    ("infers", "infers"), ("error rate", "error_rate"), ("latency p50 ms", "latency_p50_ms"),
    ("latency p99 ms", "latency_p99_ms"), ("fit runs", "fit_runs"), ("fit events", "fit_events"),
    ("fit mean s", "fit_mean_seconds"), ("serving version", "serving_version"),
    ("state bytes", "state_bytes"),
]  # fmt: skip


def available(db: Db) -> bool:
    """Whether the database has experiments (schema 0.4 on)."""
    row = db.one("compare_available")
    return bool(row and row["available"])


def cell(value: Any, key: str = "") -> str:
    """A figure as the report shows it."""
    if value is None:
        return "-"
    if key in ("error_rate", "agreement", "accuracy"):
        return f"{100 * float(value):.1f}%"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def report(db: Db, a: str, b: str, label: str | None) -> tuple[dict[str, Any] | None, str]:
    """``motion.compare(a, b, label)`` and the error that stopped it (empty when none)."""
    try:
        row = db.conn.execute("SELECT motion.compare(%s, %s, %s)", [a, b, label]).fetchone()
    except psycopg.Error as e:
        db.conn.rollback()
        return None, e.diag.message_primary or str(e).strip()
    return (row[0] if row else None), ""


def agreement_chart(found: dict[str, Any]) -> Any:
    """Agreement of each output column, as bars from 0 to 100 %."""
    bars = [
        charts.Bar(column, float(entry["agreement"] or 0.0) * 100,
                   f"{cell(entry['agreement'], 'agreement')} of {entry['compared']} rows"
                   + (f", mean |a-b| {cell(entry['mean_abs_diff'])}"
                      if entry.get("mean_abs_diff") is not None else ""),
                   entry["agreement"] is not None and entry["agreement"] < 0.9)
        for column, entry in found["columns"].items()
    ]  # fmt: skip
    # red: below 90 % agreement
    return charts.bar_chart(bars, title="agreement per output column", top=100.0)


def compare_page(request: Request) -> Response:
    """The experiments, and the report of the one chosen (``?a=baseline&b=experiment``)."""
    a = request.query_params.get("a", "").strip()
    b = request.query_params.get("b", "").strip()
    label = request.query_params.get("label", "").strip() or None
    with database(config(request).dsn) as db:
        if not available(db):
            return render(request, db, "compare.html", {"missing": True}, status_code=404)
        context: dict[str, Any] = {"missing": False, "experiments": db.rows("experiments"),
                                   "a": a, "b": b, "label": label or "", "found": None,
                                   "compare_error": ""}  # fmt: skip
        if a and b:
            found, error = report(db, a, b, label)
            context["found"], context["compare_error"] = found, error
            if found is not None:
                variants = found["variants"]
                context["side"] = [(title, cell(variants[a][k], k), cell(variants[b][k], k))
                                   for title, k in SIDE]  # fmt: skip
                context["agreement"] = agreement_chart(found)
                context["confusions"] = {
                    column: (sorted({y for row in e["confusion"].values() for y in row}),
                             e["confusion"])
                    for column, e in found["columns"].items() if e.get("confusion")
                }  # fmt: skip
        return render(request, db, "compare.html", context)


page = Page("Compare", "/compare", [Route("/compare", compare_page, name="compare")], available)
