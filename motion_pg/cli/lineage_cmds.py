"""``motion-pg lineage RELATION KEY``: where a row's inferred values came from (motion.lineage)."""

from __future__ import annotations

import json
from typing import Any

import click
import psycopg
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn, server_error
from motion_pg.errors import MotionError
from motion_pg.pg import connect

console = Console(highlight=False)


def _key(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare text key: 'abc' without JSON quotes


def _lineage(conn: psycopg.Connection[Any], relation: str, key: Any, events: int) -> dict[str, Any]:
    from motion_pg.managed_inspect import is_managed, lineage_json

    if is_managed(conn):  # no Python in the server: computed here
        return lineage_json(conn, relation, key, events)
    row = conn.execute(
        "SELECT motion.lineage(%s::regclass, %s::jsonb, %s)", [relation, json.dumps(key), events]
    ).fetchone()
    assert row is not None
    found: dict[str, Any] = row[0]
    return found


@main.command()
@dsn_option
@click.argument("relation")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="print motion.lineage's jsonb as is")
@click.option("--events", type=int, default=20, show_default=True,
              help="list at most N of the events that built the row's version")  # fmt: skip
def lineage(dsn: str | None, relation: str, key: str, as_json: bool, events: int) -> None:
    """Show the lineage of the row of RELATION whose primary key is KEY ('{"id": 42}' or 42):
    for each motion trigger inferring into it, the version, code, params, statement and changes
    since, and the versions and events behind it."""
    try:
        with connect(resolve_dsn(dsn)) as conn:
            found = _lineage(conn, relation, _key(key), events)
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    except psycopg.Error as e:
        raise server_error(e) from e
    if as_json:
        click.echo(json.dumps(found))
        return
    console.print(f"[bold]{found['relation']}[/bold] {json.dumps(found['key'])}")
    for t in found["triggers"]:
        console.print()
        _print_trigger(t)


def _print_trigger(t: dict[str, Any]) -> None:
    console.print(f"[bold]motion trigger {t['trigger']}[/bold]")
    if not t.get("stamped"):
        console.print(f"  not stamped: {t.get('why')}")
        for e in t.get("infer_errors") or []:
            console.print(f"  infer error {e['id']} at {e['created_at']}: {e['error']}")
        for now in t.get("now") or []:
            console.print(f"  {now}")
        return
    deploy = t.get("deploy") or {}
    console.print(
        f"  route {t['route']}, version {t['version']}: infer {t['infer']} "
        f"({', '.join(t['inferred_columns']) or 'no columns'})"
    )
    console.print(f"  at {t['at']} in transaction {t['xact']} by {t['login_role']}")
    console.print(
        f"  code {str(t.get('code_digest'))[:12]} (deploy {deploy.get('id')}, "
        f"{deploy.get('action')} at {deploy.get('deployed_at')} by {deploy.get('deployed_by')})"
    )
    console.print(f"  params {json.dumps(t.get('params'))}")
    for e in t.get("infer_errors") or []:
        console.print(f"  infer error {e['id']}: {e['error']}")
    changes = t.get("changed_since") or []
    if not changes:
        console.print("  unchanged since")
    for c in changes:
        inferred = (
            f" (inferred: {', '.join(c['inferred_columns'])})" if c["inferred_columns"] else ""
        )
        forged = ", a forged stamp was refused" if c["forged_stamp_refused"] else ""
        console.print(
            f"  changed at {c['at']} by {c['by']} (transaction {c['xact']}): "
            f"{', '.join(c['columns']) or 'no column'}{inferred}{forged}; before "
            f"{json.dumps(c['old_values'])}"
        )
    console.print("  versions:")
    for v in t.get("chain") or []:
        if v.get("pruned"):
            console.print(f"    {v['version']}: pruned")
            continue
        kept = "" if v["state_kept"] else ", state pruned"
        if v["events"] and v["events_kept"] < v["events"]:
            kept += f", data of {v['events'] - v['events_kept']} events pruned"
        console.print(
            f"    {v['version']}: {v['source']} at {v['created_at']}, run {v['run_id']}, "
            f"{v['events']} events, code {str(v['code_digest'])[:12]}{kept}"
        )
    ev = t.get("events") or {}
    console.print(f"  events of version {t['version']}: {ev.get('count', 0)}")
    for e in ev.get("shown") or []:
        console.print(
            f"    job {e['job_id']}: {e['op']} {e['relation']} {json.dumps(e['row_key'])} "
            f"at {e['enqueued_at']}"
        )
    if ev.get("count", 0) > len(ev.get("shown") or []):
        console.print(f"    all of them: {ev.get('all')}")
