"""``motion-pg drift TRIGGER``: test the trigger's recent events against its drift reference now
and show, per profiled column, the statistic, its threshold, whether it drifted and since when;
``--pin`` makes the recent events the reference instead."""

from __future__ import annotations

import datetime
from typing import Any

import click
import psycopg
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, echo_json, json_option, resolve_dsn, server_error
from motion_pg.cli.tables import Kind, print_rows
from motion_pg.drift import store
from motion_pg.errors import MotionError, unknown_trigger
from motion_pg.pg import PgDatabase, connect
from motion_pg.queries import query
from motion_pg.settings import Settings

console = Console(highlight=False)
_COLUMNS = ("relation", "column_name", "kind", "statistic", "value", "threshold", "drifted",
            "since", "reference_count", "current_count")  # fmt: skip


def drift(dsn: str, trigger: str, pin: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check (or pin) ``trigger``'s drift in one transaction; returns its status and figures."""
    with connect(dsn) as conn:
        db = PgDatabase(conn)
        rows = db.query(query("trigger_definition"), [trigger])
        if not rows:
            raise click.ClickException(str(unknown_trigger(trigger)))
        window = Settings.from_json(rows[0]["settings"]).drift_window
        if pin:
            written = store.pin(db, trigger, window)
            if not written:
                raise click.ClickException(
                    f'motion trigger "{trigger}" has no recent events to pin as its drift '
                    "reference\nhint: write rows to its relations first"
                )
        status = store.check(db, trigger, window)
        figures = store.report(db, trigger)
    summary = {"trigger": trigger, "share": status.share, "drifted": status.drifted,
               "judged_columns": status.judged, "pinned": pin}  # fmt: skip
    return summary, figures


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


@main.command("drift")
@dsn_option
@json_option
@click.argument("trigger")
@click.option("--pin", is_flag=True, help="make the recent events the drift reference")
def drift_command(dsn: str | None, as_json: bool, trigger: str, pin: bool) -> None:
    """Drift of TRIGGER's columns: its recent events tested against its reference (Evidently's
    defaults: KS / chi-squared at p < 0.05 up to 1000 reference values, Wasserstein /
    Jensen-Shannon >= 0.1 beyond; vectors: centroid distance >= 0.2)."""
    try:
        summary, figures = drift(resolve_dsn(dsn), trigger, pin)
    except psycopg.Error as e:
        raise server_error(e) from None
    except MotionError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        echo_json({**summary, "columns": [{k: f[k] for k in (*_COLUMNS, "reference_source")}
                                          for f in figures]})  # fmt: skip
        return
    if not figures:
        console.print(f"{trigger}: no drift figures yet (no reference profile, or no profiled "
                      "columns); pin one with `motion-pg drift TRIGGER --pin`")  # fmt: skip
        return
    headers: list[tuple[str, Kind]] = [
        ("relation", "name"), ("column", "name"), ("kind", "name"), ("statistic", "name"),
        ("value", "number"), ("threshold", "number"), ("drifted", "name"), ("since", "text"),
        ("reference", "number"), ("current", "number"),
    ]  # fmt: skip
    print_rows(console, headers, [[_cell(f[k]) for k in _COLUMNS] for f in figures],
               title=f"drift of {trigger}")  # fmt: skip
    verdict = "DRIFTED" if summary["drifted"] else "no drift"
    console.print(f"{trigger}: {verdict} ({summary['share']:.0%} of "
                  f"{summary['judged_columns']} judged columns drifted)")  # fmt: skip
