"""``motion-pg prune``: remove the state of versions and the data of events outside each trigger's
retention policy (``keep_versions``, ``keep_events``), or show what would go (``--dry-run``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click
import psycopg
from rich.console import Console
from rich.table import Table

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn, server_error
from motion_pg.errors import MotionError
from motion_pg.pg import PgDatabase, connect
from motion_pg.queries import query

console = Console(highlight=False)


def ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3, 7"``; ``"-"`` when empty."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "-"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def prune(dsn: str, trigger: str | None, dry_run: bool) -> list[dict[str, Any]]:
    """Run ``motion.prune`` (one transaction); its rows: trigger_name, kind, count, versions,
    bytes."""
    with connect(dsn) as conn:
        return PgDatabase(conn).query(query("prune"), [trigger, dry_run, None])


@main.command("prune")
@dsn_option
@click.argument("trigger", required=False)
@click.option("--dry-run", is_flag=True, help="show what would be removed; remove nothing")
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
def prune_command(dsn: str | None, trigger: str | None, dry_run: bool, as_json: bool) -> None:
    """Prune versions and events outside TRIGGER's retention policy (default: every trigger).

    A pruned version keeps its row in motion.version_history (pruned_at set); its state and the
    blobs no kept version shares are removed, with the data of its events older than keep_events.
    Serving, pinned and the newest keep_versions versions, and the events that built them, stay.
    """
    try:
        rows = prune(resolve_dsn(dsn), trigger, dry_run)
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    except psycopg.Error as e:
        raise server_error(e) from e
    if as_json:
        click.echo(json.dumps([{**r, "dry_run": dry_run} for r in rows]))
        return
    verb = "would remove" if dry_run else "removed"
    table = Table("trigger", "kind", verb, "versions", "bytes",
                  title="dry run: nothing removed" if dry_run else None)  # fmt: skip
    for r in rows:
        table.add_row(r["trigger_name"], r["kind"], str(r["count"]), ranges(r["versions"]),
                      _size(int(r["bytes"])))  # fmt: skip
    console.print(table)
