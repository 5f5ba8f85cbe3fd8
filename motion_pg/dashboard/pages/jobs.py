"""Dead fit jobs with their tracebacks, and the admin actions retry and discard.

The actions run the same named queries as `motion-pg jobs retry` and `motion-pg jobs discard`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.dashboard import auth
from motion_pg.dashboard.db import database
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.web import back, config, form, problem, render
from motion_pg.queries import query

LIMIT = 100
ACTIONS = {
    "retry": ("retry_jobs", "{n} job(s) queued again"),
    "discard": ("discard_jobs", "{n} job(s) discarded"),
}


def dead_jobs(request: Request) -> Response:
    """Dead jobs, newest first (of one trigger with ?trigger=NAME)."""
    trigger = request.query_params.get("trigger") or None
    with database(config(request).dsn) as db:
        rows = db.rows("dead_jobs", [trigger, LIMIT])
        return render(request, db, "jobs.html", {"jobs": rows, "trigger": trigger, "limit": LIMIT})


def run_action(dsn: str, action: str, ids: list[int], trigger: str | None) -> int:
    """Retry or discard jobs ``ids`` (or all dead jobs of ``trigger``); the number affected."""
    with database(dsn, write=True) as db:
        return len(db.pg.query(query(ACTIONS[action][0]), [ids, trigger]))


async def act(request: Request) -> Response:
    """POST /jobs/{action}: retry or discard one job (``job``) or a trigger's dead jobs."""
    from starlette.concurrency import run_in_threadpool

    action = request.path_params["action"]
    if action not in ACTIONS:
        return problem(404, f"no job action {action!r}: retry or discard")
    fields = await form(request)
    refusal = auth.post_refusal(request, config(request), fields.get("csrf"))
    if refusal:
        return problem(403, refusal)
    job, trigger = fields.get("job", "").strip(), fields.get("trigger", "").strip() or None
    if not job.isdigit() and trigger is None:
        return problem(400, "name a job (job=ID) or a motion trigger (trigger=NAME)")
    ids = [int(job)] if job.isdigit() else []
    n = await run_in_threadpool(run_action, config(request).dsn, action, ids, trigger)
    return back(request, "/jobs", message=ACTIONS[action][1].format(n=n))


page = Page(
    "Dead jobs",
    "/jobs",
    [
        Route("/jobs", dead_jobs, name="jobs"),
        Route("/jobs/{action}", act, methods=["POST"], name="job_action"),
    ],
)
