"""``motion-pg backfill``: re-infer a trigger's stored rows, one chunk per transaction."""

from __future__ import annotations

import json
import time
from typing import Any

import click
import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, echo_json, resolve_dsn, server_error
from motion_pg.cli.progress import RateColumn
from motion_pg.pg import MOTION_OPTIONS, connect

SAY_EVERY = 5.0  # seconds between two progress lines when stderr is not a terminal
RETRIES = 5  # a chunk that lost a deadlock to a concurrent writer is retried this often


@main.command("backfill")
@dsn_option
@click.argument("trigger")
@click.option("--stale", is_flag=True, help="only rows inferred by an older version or code")
@click.option("--where", "condition", default=None, help="a SQL condition on the rows")
@click.option("--chunk", default=1000, show_default=True, type=click.IntRange(min=1),
              help="rows per transaction")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print the finished run as JSON")
@click.option("--say-every", default=SAY_EVERY, type=click.FloatRange(min=0), hidden=True,
              help="seconds between two progress lines when stderr is not a terminal")  # fmt: skip
def backfill_command(
    dsn: str | None, trigger: str, stale: bool, condition: str | None, chunk: int, as_json: bool,
    say_every: float,
) -> None:  # fmt: skip
    """Re-infer TRIGGER's stored rows with the serving version, CHUNK rows per transaction,
    without enqueueing fit events or firing other motion triggers.

    Resumable: run the same command again after an interruption and it goes on after the last
    chunk that committed (a different --stale/--where starts a new run instead).
    """
    console = Console(stderr=True)
    with connect(resolve_dsn(dsn), autocommit=True, options=MOTION_OPTIONS) as conn:
        run = _call(conn, "SELECT motion.backfill_start(%s, %s, %s)", [trigger, stale, condition])
        if run["resumed"] and not as_json:
            console.print(f"resuming backfill run {run['id']} at {run['visited']} rows")
        started = time.monotonic()
        visited0 = run["visited"]
        progress = Progress(
            TextColumn(f"backfilling {trigger}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("rows"), RateColumn("rows"), TextColumn("ETA"), TimeRemainingColumn(),
            TimeElapsedColumn(), console=console, disable=as_json or not console.is_terminal,
        )  # fmt: skip
        with progress:
            task = progress.add_task("backfill", total=run["total"], completed=run["visited"])
            said = time.monotonic()
            while run["state"] == "running":
                run = _step(conn, run["id"], chunk)
                progress.update(task, completed=run["visited"])
                if progress.disable and not as_json and time.monotonic() - said >= say_every:
                    said = time.monotonic()
                    rate = (run["visited"] - visited0) / max(said - started, 1e-9)
                    click.echo(f"backfilling {trigger}: {run['visited']}/{run['total']} rows "
                               f"({rate:,.0f} rows/s)", err=True)  # fmt: skip
    seconds = time.monotonic() - started
    rate = (run["visited"] - visited0) / seconds if seconds > 0 else 0.0
    if as_json:
        echo_json({**run, "seconds": round(seconds, 3), "rows_per_second": round(rate, 1)})
        return
    click.echo(
        f"backfill run {run['id']} of {trigger} {run['state']}: {run['visited']} rows visited, "
        f"{run['inferred']} inferred, in {run['chunks']} chunks ({rate:,.0f} rows/s)"
    )


def _call(conn: psycopg.Connection[Any], statement: str, args: list[Any]) -> dict[str, Any]:
    try:
        row = conn.execute(statement, args).fetchone()
    except psycopg.Error as e:
        raise server_error(e) from None
    assert row is not None
    value = row[0]
    return dict(json.loads(value) if isinstance(value, str) else value)


def _step(conn: psycopg.Connection[Any], run: int, chunk: int) -> dict[str, Any]:
    for attempt in range(RETRIES):
        try:
            row = conn.execute("SELECT motion.backfill_step(%s, %s)", [run, chunk]).fetchone()
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as e:
            if attempt == RETRIES - 1:
                raise server_error(e) from None
            time.sleep(0.1 * (attempt + 1))
            continue
        except psycopg.Error as e:
            raise server_error(e) from None
        assert row is not None
        return dict(row[0])
    raise AssertionError("unreachable")
