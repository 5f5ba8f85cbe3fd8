"""The dashboard's web application (Starlette): pages, login, static files, access rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import psycopg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from motion_pg.dashboard import auth
from motion_pg.dashboard.config import DashboardConfig
from motion_pg.dashboard.pages import pages
from motion_pg.dashboard.web import HERE, back, config, form, problem, render
from motion_pg.errors import MotionError

OPEN_PATHS = ("/login", "/static/")


async def login_form(request: Request) -> Response:
    """The login form: the admin token becomes a session cookie."""
    return render(request, None, "login.html", {"next": request.query_params.get("next", "/")})


async def login(request: Request) -> Response:
    """Check the token; on success set the session cookie and go where the user was going."""
    conf = config(request)
    fields = await form(request)
    if not auth.same_origin(request) or not auth.token_matches(conf, fields.get("token", "")):
        return render(request, None, "login.html",
                      {"next": fields.get("next", "/"), "login_error": "wrong token"},
                      status_code=403)  # fmt: skip
    target = fields.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(auth.COOKIE, auth.session_value(conf), httponly=True, samesite="strict",
                        path="/")  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    """Forget the session cookie."""
    response = back(request, "/")
    response.delete_cookie(auth.COOKIE, path="/")
    return response


class Gate(BaseHTTPMiddleware):
    """Off loopback, every page needs the admin token (loopback leaves read-only pages open)."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        conf = config(request)
        if conf.loopback or request.url.path.startswith(OPEN_PATHS):
            return await call_next(request)
        if auth.is_admin(request, conf):
            return await call_next(request)
        if request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return Response("this dashboard needs the admin token", status_code=401)


async def unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached (or motion is not installed in it): say so, not a 500."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return problem(503, f"the dashboard cannot read the database: {message}")


def create_app(conf: DashboardConfig) -> Starlette:
    """The dashboard for ``conf``'s database."""
    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    for page in pages():
        routes += page.routes
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Gate)],
        exception_handlers={
            MotionError: unavailable,
            psycopg.OperationalError: unavailable,
            psycopg.errors.UndefinedTable: unavailable,
        },
    )
    app.state.config = conf
    return app
