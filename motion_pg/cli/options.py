"""Options shared by commands that talk to a database."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

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
