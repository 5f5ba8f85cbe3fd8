"""One trigger: its config, fit latency and backlog charts, version history with diffs, runs,
deploys; and one version's state diff against the version before it."""

from __future__ import annotations

from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.dashboard import charts
from motion_pg.dashboard.db import Db, database
from motion_pg.dashboard.diffs import config_changes, show, state_changes
from motion_pg.dashboard.diffs import render as render_value
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.pages.overview import changed_settings, code_checks
from motion_pg.dashboard.web import config, problem, render
from motion_pg.errors import unknown_trigger
from motion_pg.managed_inspect import state_of
from motion_pg.settings import Settings

WINDOWS = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800}
RUNS, VERSIONS, DEPLOYS, LATENCY_RUNS = 20, 30, 10, 200


def latency_chart(db: Db, name: str) -> Any:
    """Fit latency of the trigger's last runs over time; failed runs as red dots."""
    runs = [r for r in db.rows("runs", [name, LATENCY_RUNS]) if r["finished_at"] is not None]
    points = [charts.Point(r["finished_at"], r["seconds"], r["state"] != "succeeded")
              for r in reversed(runs)]  # fmt: skip
    return charts.time_chart(
        points, title=f"fit latency of {name}'s last {len(points)} runs", empty="no fit runs yet"
    )


def backlog_chart(db: Db, name: str, seconds: int) -> Any:
    """Events waiting for fit (pending or running) over the window: the peak of each bucket."""
    points, waiting = [], 0
    for r in db.rows("backlog", [name, seconds, 60]):
        peak = waiting if r["peak"] is None else max(waiting, r["peak"])
        points.append(charts.Point(r["at"], float(peak)))
        waiting = waiting if r["last"] is None else r["last"]
    return charts.time_chart(points, title=f"{name}'s fit backlog", unit="count", area=True)


def versions(db: Db, name: str) -> list[dict[str, Any]]:
    """The newest versions with what changed since the version before each."""
    rows = db.rows("versions", [name, VERSIONS])
    for r in rows:
        r["config_changes"] = config_changes(r)
    return rows


def trigger_page(request: Request) -> Response:
    """A trigger's page."""
    name = request.path_params["name"]
    window = request.query_params.get("window", "1h")
    seconds = WINDOWS.get(window, 3600)
    with database(config(request).dsn) as db:
        t = db.one("trigger_detail", [name])
        if t is None:
            return problem(404, unknown_trigger(name).message)
        check = code_checks(db).get(name)
        context = {
            "t": t,
            "code": check,
            "params_text": show(t["params"]),
            "settings": Settings.from_json(t["settings"]).to_json(),
            "changed": changed_settings(t["settings"]),
            "latency": latency_chart(db, name),
            "backlog": backlog_chart(db, name, seconds),
            "windows": list(WINDOWS),
            "window": window if window in WINDOWS else "1h",
            "versions": versions(db, name),
            "runs": db.rows("runs", [name, RUNS]),
            "deploys": db.rows("deploys", [name, DEPLOYS]),
            "dead": db.rows("dead_jobs", [name, 5]),
            "oldest": charts.seconds_label(t["oldest_pending_s"]) if t["oldest_pending_s"] else "-",
        }
        return render(request, db, "trigger.html", context)


def _state(db: Db, name: str, version: int) -> tuple[dict[str, Any], dict[str, int]]:
    # rendered as `motion-pg state show` renders it (on a managed install: here, not as pickles)
    keys = state_of(db.conn, name, version)["keys"]
    blobs = {r["key"]: r["blob_id"] for r in db.rows("state_blobs_of", [name, version])}
    return keys, blobs


def version_page(request: Request) -> Response:
    """One version's state, and what changed in it since the version before."""
    name, version = request.path_params["name"], request.path_params["version"]
    with database(config(request).dsn) as db:
        try:
            after, after_blobs = _state(db, name, version)
            prev = db.one("previous_version", [name, version])
            previous = prev["version"] if prev else None
            before, before_blobs = _state(db, name, previous) if previous else ({}, {})
        except psycopg.Error as e:
            return problem(404, e.diag.message_primary or str(e))
        changes = state_changes(before, after, before_blobs, after_blobs) if previous else []
        unchanged = sorted(k for k in after if k not in {c.key for c in changes})
        context = {"name": name, "version": version, "previous": previous, "changes": changes,
                   "unchanged": [(k, render_value(after[k])) for k in unchanged]}  # fmt: skip
        return render(request, db, "version.html", context)


page = Page(
    "Trigger",
    "/triggers",
    [
        Route("/triggers/{name}", trigger_page, name="trigger"),
        Route("/triggers/{name}/versions/{version:int}", version_page, name="version"),
    ],
    in_nav=False,
)
