"""``motion-pg state show TRIGGER --key VALUE`` and ``motion-pg state keys TRIGGER``: the states of
a keyed trigger's keys (STATE PER), from ``motion.key_state`` and ``motion.state_keys``."""

from __future__ import annotations

import json
from typing import Any

import click
import psycopg
from rich.console import Console

from motion_pg.cli.key_option import key_label, resolve_key
from motion_pg.cli.options import dsn_option, json_option, resolve_dsn, server_error
from motion_pg.cli.state_values import echo_value, value_rows
from motion_pg.cli.tables import print_rows
from motion_pg.errors import MotionError, unknown_trigger
from motion_pg.pg import connect

console = Console(highlight=False)


def show_key(
    conn: psycopg.Connection[Any], trigger: str, spec: str, version: int | None,
    name: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Print the state of key ``spec`` of ``trigger`` at ``version`` (only its value ``name``
    when given)."""
    try:
        key = resolve_key(conn, trigger, spec)
        row = conn.execute(
            "SELECT motion.key_state(%s, %s::jsonb, %s)", [trigger, key, version]
        ).fetchone()
    except psycopg.Error as e:
        raise server_error(e) from e
    assert row is not None
    found: dict[str, Any] = row[0]
    own: dict[str, Any] = found["own"]
    where = (
        f"key {key_label(key)} of {trigger} at version {found['version']}: "
        + (f"state of version {found['key_version']}" if found["key_version"] is not None
           else "no state of its own (its initial state, from setup_key)")
    )  # fmt: skip
    if name is not None:
        if name not in own:
            known = ", ".join(sorted(own)) or "none"
            raise click.ClickException(f"{where}; it has no value {name!r} (its values: {known})")
        echo_value(own[name], as_json)
        return
    if as_json:
        click.echo(json.dumps(found))
        return
    print_rows(console, [("name", "name"), ("type", "name"), ("value / summary", "text")],
               value_rows(own), title=where)  # fmt: skip


@click.command("keys")
@dsn_option
@click.argument("trigger")
@click.option("--version", type=int, default=None, help="this version (default: the serving one)")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="at most this many keys")  # fmt: skip
@click.option("--after", default=None, help="start after this key (a JSON array), to page on")
@json_option
def keys(dsn: str | None, trigger: str, version: int | None, limit: int, after: str | None,
         as_json: bool) -> None:  # fmt: skip
    """List the keys of keyed TRIGGER (STATE PER) in key order: the version that last changed each
    key's state, its size and how many versions of it are stored."""
    try:
        with connect(resolve_dsn(dsn)) as conn:
            found = conn.execute(
                "SELECT t.state_per, coalesce(%s, t.serving_version, 0) FROM motion.triggers t"
                " WHERE t.name = %s", [version, trigger],
            ).fetchone()  # fmt: skip
            if found is None:
                raise click.ClickException(str(unknown_trigger(trigger)))
            if found[0] is None:
                raise click.ClickException(
                    f'motion trigger "{trigger}" has no STATE PER: it keeps one state (see it '
                    f"with `motion-pg state show {trigger}`)"
                )
            rows = conn.execute(
                "SELECT key::text, key_version, bytes, stored_versions"
                " FROM motion.state_keys(%s, %s, %s, %s::jsonb)",
                [trigger, version, limit + 1, after],
            ).fetchall()
    except psycopg.Error as e:
        raise server_error(e) from e
    except MotionError as e:
        raise click.ClickException(str(e)) from e
    more = len(rows) > limit
    rows = rows[:limit]
    if as_json:
        click.echo(json.dumps({
            "trigger": trigger, "version": found[1], "more": more,
            "keys": [{"key": json.loads(k), "key_version": v, "bytes": b, "stored_versions": n}
                     for k, v, b, n in rows],
        }))  # fmt: skip
        return
    print_rows(
        console,
        [
            ("key", "name"),
            ("version", "number"),
            ("bytes", "number"),
            ("stored versions", "number"),
        ],
        [
            [key_label(k), str(v), str(b) if b is not None else "none", str(n)]
            for k, v, b, n in rows
        ],
        title=f"keys of {trigger} at version {found[1]}"
        + (f" (first {limit}; more with --after '{rows[-1][0]}')" if more else ""),
    )
