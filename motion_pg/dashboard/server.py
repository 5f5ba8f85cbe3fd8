"""Serving the dashboard with uvicorn."""

from __future__ import annotations

import click
import uvicorn

from motion_pg.dashboard.app import create_app
from motion_pg.dashboard.config import DashboardConfig


def serve(conf: DashboardConfig) -> None:
    """Serve until interrupted; say where, and the admin token when one was made up."""
    host = f"[{conf.host}]" if ":" in conf.host else conf.host
    click.echo(f"motion dashboard on http://{host}:{conf.port}/", err=True)
    if conf.generated_token:
        click.echo(
            f"admin token for this run (retry/discard): {conf.token}  (fix one with --token)",
            err=True,
        )
    uvicorn.run(create_app(conf), host=conf.host, port=conf.port, log_level="warning",
                access_log=False, server_header=False)  # fmt: skip
