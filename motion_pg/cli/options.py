"""Options shared by the commands: ``--dsn`` and ``--json`` (tables: :mod:`motion_pg.cli.tables`)."""

from __future__ import annotations

import datetime
import decimal
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click
import psycopg

F = TypeVar("F", bound=Callable[..., Any])


def dsn_option(func: F) -> F:
    """``--dsn``: the database to use (default: MOTION_DSN, DATABASE_URL, then the embedded one)."""
    return click.option(
        "--dsn",
        default=None,
        help="connection string; default: $MOTION_DSN, $DATABASE_URL, else the embedded database",
    )(func)


def resolve_dsn(dsn: str | None) -> str:
    """``--dsn`` > ``MOTION_DSN`` > ``DATABASE_URL`` > the embedded default database."""
    for candidate in (dsn, os.environ.get("MOTION_DSN"), os.environ.get("DATABASE_URL")):
        if candidate:
            return candidate
    from motion_pg.embedded import Cluster

    cluster = Cluster.default()
    if not cluster.is_running():
        raise click.ClickException(
            "no database given and the embedded database is not running; "
            "start it with `motion-pg up` or pass --dsn / set MOTION_DSN"
        )
    return cluster.dsn()


def json_option(func: F) -> F:
    """``--json``: print machine-readable JSON instead of tables (the parameter ``as_json``)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="print JSON (for scripts) instead of a table"
    )(func)


def echo_json(value: Any) -> None:
    """Print ``value`` as one JSON document on stdout (timestamps ISO 8601, decimals as numbers)."""
    click.echo(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


def server_error(e: psycopg.Error) -> click.ClickException:
    """A database error as the CLI prints it: the server's message, then its hint."""
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    if diag.message_hint:
        message += f"\nhint: {diag.message_hint}"
    return click.ClickException(message)
