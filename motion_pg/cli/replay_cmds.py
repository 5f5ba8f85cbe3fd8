"""``motion-pg replay``: rebuild a state version and say whether it equals the stored one."""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from typing import Any, NoReturn

import click
import psycopg
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.key_option import KEY_HELP, resolve_key
from motion_pg.cli.options import dsn_option, resolve_dsn, server_error
from motion_pg.cli.progress import TimedBar
from motion_pg.errors import InstallError, MotionError
from motion_pg.pg import connect
from motion_pg.worker.replay import ReplayRefused, ReplayResult, replay

EQUAL, DIFFER, REFUSED = 0, 1, 2


@main.command("replay")
@dsn_option
@click.argument("trigger")
@click.option("--version", "number", type=int, required=True, help="the state version to rebuild")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--key", "state_key", default=None,
              help="keyed triggers (STATE PER): rebuild this key only; " + KEY_HELP)  # fmt: skip
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    help="directory to import the trigger's code from, e.g. a checkout of the code that built "
    "the version (repeatable; default: the paths `install` recorded)",
)
def replay_command(
    dsn: str | None, trigger: str, number: int, as_json: bool, state_key: str | None,
    paths: tuple[str, ...],
) -> None:  # fmt: skip
    """Rebuild TRIGGER's state version N from its parent, its recorded events and its recorded code
    (nothing is written), and compare each key's digest with the stored version.

    A fit version is rebuilt by running the fit again (for a keyed trigger, STATE PER, each key it
    changed, or the one --key names, onto that key's state before it); a rollback or params version is checked
    against the version it copied. Exits 0 when every digest is equal, 1 when some key differs
    (or the rebuild failed), 2 when replay refuses (unknown version, setup/refit version, code on
    disk that differs from the recorded code, pruned events or parent state).
    """
    try:
        dsn = resolve_dsn(dsn)
    except click.ClickException as e:  # no database to replay from
        _refuse(MotionError(e.message), as_json)
    console = Console(stderr=True)
    expected = (
        None if as_json or not console.is_terminal else _original_seconds(dsn, trigger, number)
    )
    bar = TimedBar(console, f"replaying {trigger} version {number}", expected) if expected else None
    progress = None if as_json else bar.say if bar else _progress(trigger, number)
    try:
        key = _key(dsn, trigger, state_key) if state_key is not None else None
        with bar or contextlib.nullcontext():
            result = replay(dsn, trigger, number, progress=progress, paths=list(paths) or None,
                            key=key)  # fmt: skip
    except ReplayRefused as e:
        _refuse(e, as_json)
    except MotionError as e:
        # no database, or motion not installed in it: nothing was replayed
        if isinstance(e, InstallError) or isinstance(e.__cause__, psycopg.OperationalError):
            _refuse(e, as_json)
        _failed(trigger, number, e, as_json)
    except Exception as e:  # the user's code raised: the version was not reproduced
        _failed(trigger, number, e, as_json)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        _print(result)
    sys.exit(EQUAL if result.equal else DIFFER)


def _key(dsn: str, trigger: str, spec: str) -> str:
    """``--key`` as jsonb text; what the database refuses of it, as a refusal."""
    try:
        with connect(dsn) as conn:
            return resolve_key(conn, trigger, spec)
    except psycopg.Error as e:
        raise ReplayRefused(f"cannot replay key {spec!r}: {server_error(e).message}") from e


def _original_seconds(dsn: str, trigger: str, number: int) -> float | None:
    """How long the fit run that built the version took (None: unknown, or no database)."""
    try:
        with connect(dsn, autocommit=True) as conn:
            row = conn.execute(_RUN_SECONDS, [trigger, number]).fetchone()
    except (psycopg.Error, MotionError):
        return None
    return float(row[0]) if row and row[0] is not None else None


_RUN_SECONDS = (
    "SELECT extract(epoch FROM r.finished_at - r.started_at)::float8 FROM motion.versions v"
    " JOIN motion.runs r ON r.id = v.run_id WHERE v.trigger_name = %s AND v.version = %s"
)


def _progress(trigger: str, number: int) -> Any:
    def say(line: str) -> None:
        click.echo(f"replaying {trigger} version {number}: {line}", err=True)

    return say


def _print(result: ReplayResult) -> None:
    click.echo(result.summary())
    click.echo(f"  rebuilt from: {result.basis}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    for d in result.differences:
        stored = f"{d.stored.digest[:12]} ({d.stored.size} bytes)" if d.stored else "-"
        rebuilt = f"{d.rebuilt.digest[:12]} ({d.rebuilt.size} bytes)" if d.rebuilt else "-"
        click.echo(f"  {d.change:<8} {d.key}: stored {stored}, rebuilt {rebuilt}")


def _refuse(e: MotionError, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"status": "refused", "error": e.message, "hint": e.hint}))
    else:
        click.echo(f"error: {e}", err=True)
    sys.exit(REFUSED)


def _failed(trigger: str, number: int, e: Exception, as_json: bool) -> NoReturn:
    message = (
        f'motion trigger "{trigger}" version {number} was not reproduced: its rebuild failed: '
        f"{type(e).__name__}: {e}"
    )
    if as_json:
        click.echo(json.dumps({"status": "failed", "error": message}))
    else:
        click.echo(message, err=True)
        click.echo("".join(traceback.format_exception(e)), err=True)
    sys.exit(DIFFER)
