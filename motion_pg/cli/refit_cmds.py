"""``motion-pg refit``: ``ALTER MOTION TRIGGER … REFIT`` with a progress bar over the rows it reads.

A refit runs the class's ``setup`` over all data, which for a large relation takes a while and
says nothing. Here the statement is compiled in this process (as ``motion-pg exec`` does on a
managed install; the trigger's code must be importable here, as for the worker), in one
transaction, and every row the refit's queries return is counted as it arrives (rows are streamed
from the server in chunks): the bar shows rows read of the rows in the trigger's relations (the
planner's estimate, or a count when the relation was never analyzed), with rate and ETA. A setup
that reads a relation once moves the bar from 0 to full; one that aggregates in SQL reads few rows
and the bar says so.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
import psycopg
from psycopg.rows import dict_row
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
from motion_pg.cli.options import dsn_option, resolve_dsn
from motion_pg.cli.progress import RateColumn
from motion_pg.errors import MotionError, unknown_trigger
from motion_pg.managed_exec import ClientPlpy, _param, _Plan, _plpython_loaders
from motion_pg.pg import connect

CHUNK = 1000  # rows fetched per round trip while streaming a query's result
_READS = re.compile(r"^\s*(select|with|values|table)\b", re.IGNORECASE)
# rows in the trigger's routed relations (and their partitions): the estimate, -1 if never analyzed
_ROWS = """
SELECT c.oid::regclass::text AS relation, c.reltuples::bigint AS estimate
FROM motion.routes r JOIN pg_catalog.pg_class c
  ON c.oid = r.relation
  OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(r.relation) p WHERE p.isleaf)
WHERE r.trigger_name = %s AND c.relkind <> 'p'
"""


class CountingPlpy(ClientPlpy):
    """A :class:`ClientPlpy` that streams the results of reads and reports the rows received."""

    def __init__(self, conn: psycopg.Connection[Any], on_rows: Callable[[int], None]) -> None:
        super().__init__(conn)
        self.on_rows = on_rows
        self.rows = 0

    def execute(self, plan: _Plan | str, args: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run a plan; a read's rows are fetched :data:`CHUNK` at a time and counted."""
        if isinstance(plan, str):
            plan = _Plan(self, plan, [])
        if not _READS.match(plan.sql):
            return super().execute(plan, args)
        params = [_param(v, t) for v, t in zip(args or [], plan.types, strict=False)]
        found: list[dict[str, Any]] = []
        with psycopg.RawCursor(self.conn, row_factory=dict_row) as cur:
            _plpython_loaders(cur)
            for row in cur.stream(plan.sql, params, size=CHUNK):
                found.append(row)
                if len(found) % CHUNK == 0:
                    self._count(CHUNK)
        self._count(len(found) % CHUNK)
        return found

    def _count(self, n: int) -> None:
        if n:
            self.rows += n
            self.on_rows(self.rows)


def relation_rows(conn: psycopg.Connection[Any], trigger: str) -> int:
    """Rows in ``trigger``'s relations: the planner's estimates, a count where there is none."""
    total = 0
    for relation, estimate in conn.execute(_ROWS, [trigger]).fetchall():
        if estimate >= 0:
            total += int(estimate)
        else:  # never vacuumed nor analyzed: count
            # regclass output: quoted and qualified by the server
            row = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
            total += int(row[0]) if row else 0
    return total


def refit(dsn: str, trigger: str, console: Console, show: bool) -> dict[str, Any]:
    """Refit ``trigger`` in one transaction, showing a bar on ``console`` when ``show``;
    returns what was done (trigger, version, rows read, seconds)."""
    started = time.monotonic()
    with connect(dsn) as conn:
        if (
            conn.execute("SELECT 1 FROM motion.triggers WHERE name = %s", [trigger]).fetchone()
            is None
        ):
            raise unknown_trigger(trigger)
        total = relation_rows(conn, trigger)
        progress = Progress(
            TextColumn(f"refitting {trigger}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("rows read"), RateColumn("rows"), TextColumn("ETA"),
            TimeRemainingColumn(), TimeElapsedColumn(), console=console, disable=not show,
        )  # fmt: skip
        from motion_pg.managed_exec import run

        quoted = '"' + trigger.replace('"', '""') + '"'
        with progress:
            task = progress.add_task("refit", total=max(total, 1))

            def advance(rows: int) -> None:
                progress.update(task, completed=rows, total=max(total, rows, 1))

            plpy = CountingPlpy(conn, advance)
            with conn.transaction():
                status, _notices = run(conn, f"ALTER MOTION TRIGGER {quoted} REFIT", plpy)
            progress.update(task, total=max(plpy.rows, 1), completed=max(plpy.rows, 1))
        found = re.search(r"version (\d+)", status)
        return {"trigger": trigger, "status": status, "version": int(found[1]) if found else None,
                "rows_read": plpy.rows, "relation_rows": total,
                "seconds": round(time.monotonic() - started, 3)}  # fmt: skip


@main.command("refit")
@dsn_option
@click.argument("trigger")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON (no bar)")
def refit_command(dsn: str | None, trigger: str, as_json: bool) -> None:
    """Rebuild TRIGGER's state by running its setup over all data (``ALTER MOTION TRIGGER …
    REFIT``), with a progress bar of the rows it reads (rate and ETA) on a terminal.

    The statement is compiled here: the trigger's code must be importable here, as for the worker.
    """
    console = Console(stderr=True)
    try:
        done = refit(resolve_dsn(dsn), trigger, console, show=not as_json and console.is_terminal)
    except MotionError as e:
        raise click.ClickException(f"{e}\n({type(e).__name__}, sqlstate {e.sqlstate})") from e
    except psycopg.Error as e:
        raise click.ClickException(str(e).strip()) from e
    if as_json:
        click.echo(json.dumps(done))
    else:
        click.echo(f"{done['status']}: {done['rows_read']:,} rows read in {done['seconds']:.1f} s")
