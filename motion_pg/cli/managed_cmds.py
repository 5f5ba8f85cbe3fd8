"""``motion-pg exec``: run motion statements compiled by the client (any install; the way to
CREATE/ALTER/DROP MOTION TRIGGER on a managed install, whose server has no PL/Python)."""

from __future__ import annotations

import logging

import click
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn
from motion_pg.errors import MotionError
from motion_pg.pg import connect

console = Console()


@main.command("exec")
@dsn_option
@click.argument("statements")
def exec_(dsn: str | None, statements: str) -> None:
    """Run STATEMENTS (motion statements and plain SQL) in one transaction: through
    ``motion.exec`` on a full install, compiled here and run as the generated SQL on a managed
    one (the trigger's code must be importable here, as for the worker)."""
    from motion_pg.executor import execute

    logging.basicConfig(level=logging.INFO, format="NOTICE: %(message)s")
    try:
        with connect(resolve_dsn(dsn)) as conn:
            for line in execute(conn, statements):
                console.print(line, highlight=False)
    except MotionError as e:
        raise click.ClickException(f"{e}\n({type(e).__name__}, sqlstate {e.sqlstate})") from e
