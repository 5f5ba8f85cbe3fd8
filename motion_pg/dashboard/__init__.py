"""``motion-pg dashboard``: a web app to watch motion triggers and act on dead fit jobs.

Server-rendered pages (Starlette + Jinja2), charts as inline SVG; nothing is fetched from outside.
"""

from motion_pg.dashboard.app import create_app
from motion_pg.dashboard.config import DashboardConfig

__all__ = ["DashboardConfig", "create_app"]
