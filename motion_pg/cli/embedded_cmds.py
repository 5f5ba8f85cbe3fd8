"""Commands for the embedded database: ``up``, ``down``, ``url``, ``psql``."""

from __future__ import annotations

import os

import click
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import resolve_dsn
from motion_pg.embedded import Cluster, bin_path
from motion_pg.errors import MotionError

console = Console(highlight=False)


def _cluster() -> Cluster:
    return Cluster.default()


@main.command()
def up() -> None:
    """Start the embedded database (created under ./.motion on first use)."""
    cluster = _cluster()
    try:
        cluster.start()
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    console.print(f"embedded database running in {cluster.root}")
    console.print(f"  url:  {cluster.dsn()}")
    console.print("  next: motion-pg install, then motion-pg psql")


@main.command()
@click.option("--destroy", is_flag=True, help="also delete the cluster and all its data")
def down(destroy: bool) -> None:
    """Stop the embedded database."""
    cluster = _cluster()
    try:
        if destroy:
            cluster.destroy()
            console.print(f"embedded database in {cluster.root} stopped and deleted")
            return
        running = cluster.is_running()
        cluster.stop()
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    console.print("embedded database stopped" if running else "embedded database was not running")


@main.command()
@click.option("--dbname", default="motion", show_default=True)
def url(dbname: str) -> None:
    """Print the connection URL of the embedded database."""
    cluster = _cluster()
    if not cluster.is_initialized():
        raise click.ClickException("no embedded database here; create it with `motion-pg up`")
    click.echo(cluster.dsn(dbname))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--dsn", default=None, help="connection string (default: as for other commands)")
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(dsn: str | None, psql_args: tuple[str, ...]) -> None:
    """Open psql on the database (extra arguments go to psql)."""
    target = resolve_dsn(dsn)
    program = bin_path("psql")
    os.execv(program, [program, target, *psql_args])
