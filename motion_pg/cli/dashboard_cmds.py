"""``motion-pg dashboard``: serve the web dashboard."""

from __future__ import annotations

import click

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn
from motion_pg.errors import MotionError


@main.command()
@dsn_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback needs --token")  # fmt: skip
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="MOTION_DASHBOARD_TOKEN",
    default=None,
    help="admin token for retry/discard (and for every page off loopback); "
    "default: $MOTION_DASHBOARD_TOKEN, else one made up and printed at start",
)
def dashboard(dsn: str | None, host: str, port: int, token: str | None) -> None:
    """Serve the web dashboard: triggers, versions, charts, dead jobs (retry / discard)."""
    from motion_pg.dashboard.config import DashboardConfig
    from motion_pg.dashboard.server import serve

    try:
        conf = DashboardConfig.checked(resolve_dsn(dsn), host, port, token)
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    serve(conf)
