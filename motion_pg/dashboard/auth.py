"""Admin authentication: a token, given once in a login form (a session cookie) or in a header.

Cookies are sent by browsers on requests other sites start, so every POST authenticated by the
cookie must also carry a CSRF token that only pages of this dashboard hold. A request authenticated
by its ``Authorization: Bearer`` header needs none (another site cannot set that header).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from motion_pg.dashboard.config import DashboardConfig

COOKIE = "motion_dashboard"


def _mac(config: DashboardConfig, purpose: str) -> str:
    # the process secret changes at every start: sessions end when the dashboard restarts
    key = config.secret + config.token.encode()
    return hmac.new(key, purpose.encode(), hashlib.sha256).hexdigest()


def token_matches(config: DashboardConfig, given: str) -> bool:
    """Whether ``given`` is the admin token (in constant time)."""
    return secrets.compare_digest(given.encode(), config.token.encode())


def session_value(config: DashboardConfig) -> str:
    """The session cookie's value after a login."""
    return _mac(config, "session")


def csrf_token(config: DashboardConfig) -> str:
    """The token forms carry: it proves a POST came from a page this dashboard served."""
    return _mac(config, "csrf")


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def is_admin(request: Request, config: DashboardConfig) -> bool:
    """Whether the request carries the admin token, by header or by session cookie."""
    given = bearer(request)
    if given is not None:
        return token_matches(config, given)
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie, session_value(config))


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # not a browser, or one that sends neither: the CSRF token still decides
    return urlsplit(origin).netloc == request.headers.get("host", "")


def post_refusal(request: Request, config: DashboardConfig, form_csrf: str | None) -> str | None:
    """Why a POST action is refused, or None when it may run."""
    if not is_admin(request, config):
        return "this action needs the admin token: log in first, or send Authorization: Bearer"
    if bearer(request) is not None:
        return None
    if not same_origin(request):
        return "refused: the request comes from another site (cross-site request forgery check)"
    if not form_csrf or not secrets.compare_digest(form_csrf, csrf_token(config)):
        return "refused: the form's CSRF token is missing or stale; reload the page and try again"
    return None
