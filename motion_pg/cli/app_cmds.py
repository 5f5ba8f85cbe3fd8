"""Commands that work on an application's database: install, apply (worker, status and metrics
have their own modules)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn
from motion_pg.errors import MotionError
from motion_pg.pg import connect

console = Console()


def _fail(e: MotionError) -> click.ClickException:
    return click.ClickException(f"{e}\n({type(e).__name__}, sqlstate {e.sqlstate})")


@main.command()
@dsn_option
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(file_okay=False),
    help="directory the database server imports trigger modules from (repeatable; default: the "
    "current directory); the active virtualenv is always recorded",
)
@click.option(
    "--extension/--no-extension",
    default=None,
    help="install as the `motion` extension, or apply the schema directly "
    "(default: the extension when its files are on the server)",
)
@click.option(
    "--mode",
    type=click.Choice(["auto", "full", "managed"]),
    default="auto",
    show_default=True,
    help="managed: plain SQL and PL/pgSQL only, as a non-superuser owner (every trigger infers "
    "asynchronously in the worker); auto: managed when plpython3u cannot be created",
)
def install(dsn: str | None, paths: tuple[str, ...], extension: bool | None, mode: str) -> None:
    """Install (or upgrade) motion in a database and record where its server imports Python from."""
    from motion_pg.install import default_paths
    from motion_pg.install import install as do_install

    try:
        with connect(resolve_dsn(dsn)) as conn:
            recorded = do_install(
                conn, default_paths(paths), extension=extension, mode=mode,
                notice=lambda m: Console(stderr=True).print(m, highlight=False),
            )  # fmt: skip
    except MotionError as e:
        raise _fail(e) from e
    console.print("motion installed; the database server imports from:")
    for p in recorded:
        console.print(f"  {p}")


@main.command()
@dsn_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def apply(dsn: str | None, files: tuple[str, ...]) -> None:
    """Run SQL files that mix ordinary SQL and motion statements, each file in one transaction."""
    from motion_pg.executor import execute

    try:
        with connect(resolve_dsn(dsn)) as conn:
            for name in files:
                try:
                    results = execute(conn, Path(name).read_text(encoding="utf-8"))
                except MotionError as e:
                    e.message = f"{name}: {e.message}"  # keeps its class (and SQLSTATE)
                    raise
                for line in results:
                    console.print(f"{name}: {line}", highlight=False)
    except MotionError as e:
        raise _fail(e) from e


@main.command()
def demo() -> None:
    """Run the example application (support tickets) end to end on the embedded database."""
    from motion_pg.demo import main as run_demo

    raise SystemExit(run_demo())
