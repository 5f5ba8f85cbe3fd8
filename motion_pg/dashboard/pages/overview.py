"""The index: every motion trigger with its serving version, code, config, routes, queue and
recent fit latency (the figures of `motion-pg status`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.cli.code_check import CodeCheck, check_code
from motion_pg.dashboard import charts
from motion_pg.dashboard.db import Db, database
from motion_pg.dashboard.diffs import show
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.web import config, render
from motion_pg.errors import MotionError
from motion_pg.queries import query
from motion_pg.settings import Settings

SPARK_RUNS = 30


def changed_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ from their defaults."""
    defaults = Settings().to_json()
    current = Settings.from_json(settings).to_json()
    return {k: v for k, v in current.items() if v != defaults[k]}


def code_checks(db: Db) -> dict[str, CodeCheck]:
    """Each trigger's deployed code and whether the code on disk differs (as `status` says)."""
    try:
        return check_code(db.conn)
    except MotionError as e:  # the page still shows the rest
        return {"": CodeCheck("-", f"cannot check the code on disk: {e.message}")}


def triggers(db: Db) -> list[dict[str, Any]]:
    """One row per trigger: `status`'s figures with routes, deployed code and a latency sparkline."""
    extras = {r["name"]: r for r in db.rows("trigger_extras")}
    spark: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in db.rows("recent_latencies", [SPARK_RUNS]):
        spark[r["trigger_name"]].append(r)
    rows = []
    for r in db.pg.query(query("status")):
        runs = spark[r["name"]]
        rows.append({
            **r, **extras.get(r["name"], {}),
            "params_text": show(r["params"]),
            "settings_text": show(changed_settings(r["settings"])),
            "fit_p50": charts.seconds_label(r["fit_p50_s"]) if r["fit_p50_s"] is not None else "-",
            "oldest": charts.seconds_label(r["oldest_pending_s"]) if r["oldest_pending_s"] else "-",
            "spark": charts.sparkline(
                [x["seconds"] for x in runs], [x["failed"] for x in runs],
                title=f"fit latency of {r['name']}'s last {len(runs)} runs",
            ),
        })  # fmt: skip
    return rows


def index(request: Request) -> Response:
    """The triggers overview."""
    with database(config(request).dsn) as db:
        rows = triggers(db)
        checks = code_checks(db)
        return render(request, db, "index.html", {"triggers": rows, "code": checks})


page = Page("Triggers", "/", [Route("/", index, name="index")])
