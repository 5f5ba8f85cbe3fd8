"""What every page uses: the app's config, rendering a template with the navigation, redirects."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from motion_pg.dashboard import auth
from motion_pg.dashboard.config import DashboardConfig
from motion_pg.dashboard.db import Db
from motion_pg.dashboard.pages import navigation

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def config(request: Request) -> DashboardConfig:
    """The running dashboard's config."""
    conf: DashboardConfig = request.app.state.config
    return conf


def render(request: Request, db: Db | None, template: str, context: dict[str, Any],
           status_code: int = 200) -> Response:  # fmt: skip
    """A page: ``template`` with ``context``, the navigation, login state and the CSRF token."""
    conf = config(request)
    admin = auth.is_admin(request, conf)
    full = {
        "nav": navigation(db),
        "admin": admin,
        "csrf": auth.csrf_token(conf) if admin else "",
        "message": request.query_params.get("message", ""),
        "error": request.query_params.get("error", ""),
        **context,
    }
    return templates.TemplateResponse(request, template, full, status_code=status_code)


def back(request: Request, fallback: str, **message: str) -> RedirectResponse:
    """A 303 to the page the form was on (this site's only), with a message to show there."""
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc == request.headers.get("host", "") and referer.path.startswith("/")
    path = referer.path if same_site and not referer.path.startswith("//") else fallback
    kept = [(k, v) for k, v in parse_qsl(referer.query if same_site else "")
            if k not in ("message", "error")]  # fmt: skip
    query = urlencode(kept + list(message.items()))
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def problem(status: int, message: str) -> HTMLResponse:
    """A plain error page."""
    from markupsafe import escape

    body = f"<!doctype html><title>{status}</title><p>{escape(message)}</p><p><a href='/'>back</a>"
    return HTMLResponse(body, status_code=status)


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (first value of each)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
