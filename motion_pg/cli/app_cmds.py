"""Commands that work on an application's database: install, apply, worker, status."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn
from motion_pg.errors import MotionError
from motion_pg.pg import connect
from motion_pg.settings import Settings

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
def install(dsn: str | None, paths: tuple[str, ...], extension: bool | None) -> None:
    """Install (or upgrade) motion in a database and record where its server imports Python from."""
    from motion_pg.install import default_paths
    from motion_pg.install import install as do_install

    try:
        with connect(resolve_dsn(dsn)) as conn:
            recorded = do_install(conn, default_paths(paths), extension=extension)
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
@dsn_option
@click.option("--once", is_flag=True, help="fit what is ready, then exit")
@click.option("--concurrency", default=1, show_default=True, help="worker processes")
@click.option("--poll-interval", default=1.0, show_default=True, help="seconds between polls")
@click.option("--fit-batch", default=100, show_default=True, help="events per fit call at most")
@click.option(
    "--lease", default=30.0, show_default=True, help="seconds a lost worker's fit stays claimed"
)
@click.option(
    "--grace",
    default=30.0,
    show_default=True,
    help="seconds a running fit may finish after SIGTERM",
)
@click.option(
    "--fit-timeout",
    default=600.0,
    show_default=True,
    help="seconds a fit may run (a trigger's fit_timeout param overrides)",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    help="directory this host imports trigger modules from (repeatable; default: the paths "
    "`install` recorded); triggers whose deployed code differs from this host's are left to "
    "other workers",
)
@click.option("-v", "--verbose", is_flag=True, help="log every fit")
def worker(
    dsn: str | None,
    once: bool,
    concurrency: int,
    poll_interval: float,
    fit_batch: int,
    lease: float,
    grace: float,
    fit_timeout: float,
    paths: tuple[str, ...],
    verbose: bool,
) -> None:
    """Run the fit worker: committed events are fitted oldest first, per trigger."""
    from motion_pg.worker.pool import run_pool

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(processName)s %(levelname)s %(message)s",
    )
    try:
        runs = run_pool(
            resolve_dsn(dsn),
            concurrency=concurrency,
            once=once,
            poll_interval=poll_interval,
            fit_batch=fit_batch,
            lease_seconds=lease,
            grace_seconds=grace,
            fit_timeout=fit_timeout,
            paths=list(paths) or None,
        )
    except MotionError as e:
        raise _fail(e) from e
    if once:
        console.print(f"worker: {runs} fit run(s)")


@main.command()
@dsn_option
def status(dsn: str | None) -> None:
    """Triggers, serving versions, queue depth, oldest pending age and failures."""
    from motion_pg.cli.code_check import check_code
    from motion_pg.pg import PgDatabase
    from motion_pg.queries import query

    try:
        with connect(resolve_dsn(dsn)) as conn:
            rows = PgDatabase(conn).query(query("status"))
            code = check_code(conn)
    except MotionError as e:
        raise _fail(e) from e
    table = Table("trigger", "class", "code", "enabled", "version", "pending", "running", "dead",
                  "oldest pending", "fit p50", "failed fits (1 h)", "infer errors", "params",
                  "settings")  # fmt: skip
    for r in rows:
        table.add_row(
            r["name"], r["class_ref"], code[r["name"]].deployed if r["name"] in code else "-",
            str(r["enabled"]).lower(), _version(r),
            str(r["pending"]), str(r["running"]), str(r["dead"]),
            _seconds(r["oldest_pending_s"]), _seconds(r["fit_p50_s"]),
            str(r["failed_last_hour"]), str(r["infer_errors"]), json.dumps(r["params"]),
            _changed_settings(r["settings"]),
        )  # fmt: skip
    console.print(table)
    for check in code.values():
        if check.warning:
            console.print(f"[yellow]warning:[/yellow] {check.warning}", soft_wrap=True)


def _version(row: dict[str, Any]) -> str:
    """The serving version, marked when a pin holds it, and how many versions retention pruned."""
    text = str(row["serving_version"])
    if row["pinned_version"] is not None:
        text += " (pinned)"
    if row.get("versions_pruned"):
        text += f" ({row['versions_pruned']} pruned)"
    return text


def _changed_settings(settings: dict[str, Any]) -> str:
    """The settings that differ from their defaults, as JSON."""
    defaults = Settings().to_json()
    current = Settings.from_json(settings).to_json()
    return json.dumps({k: v for k, v in current.items() if v != defaults[k]})


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


@main.command()
def demo() -> None:
    """Run the example application (support tickets) end to end on the embedded database."""
    from motion_pg.demo import main as run_demo

    raise SystemExit(run_demo())
