"""``motion-pg status``: triggers, serving versions, queues, failures and latencies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, echo_json, json_option, resolve_dsn
from motion_pg.cli.tables import print_rows
from motion_pg.errors import MotionError
from motion_pg.pg import connect
from motion_pg.settings import Settings

console = Console(highlight=False)


@main.command()
@dsn_option
@json_option
def status(dsn: str | None, as_json: bool) -> None:
    """Triggers, serving versions, queue depth, oldest pending age and failures."""
    from motion_pg.cli import backlog
    from motion_pg.cli.code_check import check_code
    from motion_pg.pg import PgDatabase
    from motion_pg.queries import query

    try:
        with connect(resolve_dsn(dsn)) as conn:
            rows = PgDatabase(conn).query(query("status"))
            backlogs = backlog.read(PgDatabase(conn))
            code = check_code(conn)
    except MotionError as e:
        raise click.ClickException(f"{e}\n({type(e).__name__}, sqlstate {e.sqlstate})") from e
    if as_json:
        echo_json([{**_as_json(r, code.get(r["name"])),
                    "backlog": backlog.as_json(r, backlogs.get(r["name"])),
                    "violations": (backlogs.get(r["name"]) or {}).get("violations", 0)}
                   for r in rows])  # fmt: skip
        return
    print_rows(
        console,
        [("trigger", "name"), ("version", "number"), ("pending", "number"),
         ("running", "number"), ("dead", "number"), ("oldest", "number"), ("fit p50", "number"),
         ("failed 1h", "number"), ("infer errors", "number")],
        [[r["name"], _version(r), str(r["pending"]), str(r["running"]), str(r["dead"]),
          _seconds(r["oldest_pending_s"]), _seconds(r["fit_p50_s"]), str(r["failed_last_hour"]),
          str(r["infer_errors"])] for r in rows],
    )  # fmt: skip
    console.print()
    print_rows(
        console,
        [("trigger", "name"), ("class", "name"), ("code", "name"), ("enabled", "name"),
         ("next firing", "text"), ("params", "text"), ("settings", "text")],
        [[r["name"], r["class_ref"], code[r["name"]].deployed if r["name"] in code else "-",
          str(r["enabled"]).lower(), _firing(r["next_run_at"]), json.dumps(r["params"]),
          json.dumps(_changed(r["settings"]))]
         for r in rows],
    )  # fmt: skip
    backlog.show(console, rows, backlogs)
    for check in code.values():
        if check.warning:
            console.print(f"[yellow]warning:[/yellow] {check.warning}", soft_wrap=True)


def _as_json(row: dict[str, Any], check: Any) -> dict[str, Any]:
    return {
        "trigger": row["name"], "class": row["class_ref"], "enabled": row["enabled"],
        "serving_version": row["serving_version"], "pinned_version": row["pinned_version"],
        "versions_pruned": row.get("versions_pruned", 0),
        "code_digest": check.deployed if check else None,
        "code_warning": check.warning if check else None,
        "pending": row["pending"], "running": row["running"], "dead": row["dead"],
        "oldest_pending_seconds": row["oldest_pending_s"], "fit_p50_seconds": row["fit_p50_s"],
        "failed_fits_last_hour": row["failed_last_hour"], "infer_errors": row["infer_errors"],
        "params": row["params"], "settings": Settings.from_json(row["settings"]).to_json(),
        "next_firing": row["next_run_at"].isoformat() if row.get("next_run_at") else None,
    }  # fmt: skip


def _version(row: dict[str, Any]) -> str:
    """The serving version, marked when a pin holds it, and how many versions retention pruned."""
    text = str(row["serving_version"])
    if row["pinned_version"] is not None:
        text += " (pinned)"
    if row.get("versions_pruned"):
        text += f" ({row['versions_pruned']} pruned)"
    return text


def _firing(at: datetime | None) -> str:
    """The earliest next firing of a trigger's scheduled routes (ON SCHEDULE), or '-'."""
    return "-" if at is None else at.isoformat(" ", "seconds")


def _changed(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ from their defaults."""
    defaults = Settings().to_json()
    current = Settings.from_json(settings).to_json()
    return {k: v for k, v in current.items() if v != defaults[k]}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
