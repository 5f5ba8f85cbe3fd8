"""``motion-pg state show`` and ``motion-pg wait``: a trigger's state, and waiting for its fits.
A keyed trigger's keys: ``state show --key`` and ``state keys`` (:mod:`.key_state_cmds`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import psycopg
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.key_option import KEY_HELP
from motion_pg.cli.key_state_cmds import keys, show_key
from motion_pg.cli.options import dsn_option, json_option, resolve_dsn, server_error
from motion_pg.cli.state_values import echo_value, value_rows
from motion_pg.cli.tables import print_rows
from motion_pg.errors import MotionError
from motion_pg.pg import connect

console = Console(highlight=False)


def _connect(dsn: str | None) -> psycopg.Connection[Any]:
    try:
        return connect(resolve_dsn(dsn))
    except MotionError as e:
        raise click.ClickException(str(e)) from e


def _state(conn: psycopg.Connection[Any], trigger: str, version: int | None) -> dict[str, Any]:
    from motion_pg.managed_inspect import state_of

    return state_of(conn, trigger, version)


@main.group()
def state() -> None:
    """Read a motion trigger's state versions."""


state.add_command(keys)


@state.command("show")
@dsn_option
@click.argument("trigger")
@click.argument("key", required=False)
@click.option("--version", type=int, default=None, help="this version (default: the serving one)")
@click.option("--key", "state_key", default=None, help=KEY_HELP)
@json_option
def show(dsn: str | None, trigger: str, key: str | None, version: int | None,
         state_key: str | None, as_json: bool) -> None:  # fmt: skip
    """Show TRIGGER's state (a table of its keys), or the value of one KEY.

    With --key, the state of one key of a keyed trigger (STATE PER): its own values (laid over the
    trigger-wide state) and the version that last changed them.
    """
    if state_key is not None:
        with _connect(dsn) as conn:
            show_key(conn, trigger, state_key, version, key, as_json)
        return
    with _connect(dsn) as conn:
        try:
            row = _state(conn, trigger, version)
        except psycopg.Error as e:
            raise server_error(e) from e
        except MotionError as e:
            raise click.ClickException(str(e)) from e
    rendered: dict[str, Any] = row
    if key is not None:
        if key not in rendered["keys"]:
            known = ", ".join(sorted(rendered["keys"])) or "none"
            raise click.ClickException(
                f'motion trigger "{trigger}" version {rendered["version"]} has no key {key!r} '
                f"(its keys: {known})"
            )
        echo_value(rendered["keys"][key], as_json)
        return
    if as_json:
        click.echo(json.dumps(rendered))
        return
    print_rows(
        console,
        [("key", "name"), ("type", "name"), ("value / summary", "text")],
        value_rows(rendered["keys"]),
        title=f"{trigger} version {rendered['version']}",
    )


@main.command()
@dsn_option
@click.argument("trigger", required=False)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds")
def wait(dsn: str | None, trigger: str | None, timeout: float) -> None:
    """Wait until every fit job of TRIGGER (default: all triggers) committed before now is fitted.

    Exits 0 once they are, 1 at the timeout or when some are dead (it says which).
    """
    who = f'motion trigger "{trigger}"' if trigger else "every motion trigger"
    with _connect(dsn) as conn:
        try:
            row = conn.execute(
                "SELECT motion.wait_for_fits(%s, make_interval(secs => %s))", [trigger, timeout]
            ).fetchone()
        except psycopg.Error as e:
            click.echo(f"error: {server_error(e).message}", err=True)
            sys.exit(1)
        assert row is not None
        if row[0]:
            click.echo(f"fitted: {who} has no pending or running fit jobs from before the wait")
            return
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'pending'),"
            " count(*) FILTER (WHERE state = 'running') FROM motion.jobs"
            " WHERE %(t)s::text IS NULL OR trigger_name = %(t)s",
            {"t": trigger},
        ).fetchone()
    pending, running = counts if counts is not None else (0, 0)
    click.echo(
        f"timed out after {timeout:g} s: {who} still has {pending} pending and {running} running "
        "fit jobs (is a worker running? `motion-pg worker`)",
        err=True,
    )
    sys.exit(1)
