"""``motion-pg jobs``: list, show, retry and discard fit jobs."""

from __future__ import annotations

import json

import click
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, echo_json, json_option, resolve_dsn
from motion_pg.cli.tables import print_rows
from motion_pg.errors import MotionError
from motion_pg.pg import PgDatabase, connect
from motion_pg.queries import query

console = Console(highlight=False)


def _db(dsn: str | None) -> PgDatabase:
    try:
        return PgDatabase(connect(resolve_dsn(dsn)))
    except MotionError as e:
        raise click.ClickException(str(e)) from e


@main.group()
def jobs() -> None:
    """Fit jobs: one per committed event a route sends to fit."""


@jobs.command("list")
@dsn_option
@click.option("--state", type=click.Choice(["pending", "running", "done", "dead"]), default=None)
@click.option("--trigger", default=None, help="only this motion trigger's jobs")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def list_jobs(dsn: str | None, state: str | None, trigger: str | None, limit: int,
              as_json: bool) -> None:  # fmt: skip
    """List jobs, newest first (finished jobs are pruned after a while)."""
    rows = _db(dsn).query(query("list_jobs"), [state, trigger, limit])
    if as_json:
        echo_json(rows)
        return
    listed = []
    for r in rows:
        error = (r["last_error"] or "").strip().splitlines()
        listed.append([
            str(r["id"]), r["trigger_name"], r["state"], str(r["attempts"]), r["op"],
            r["relation"], f"{r['created_at']:%m-%d %H:%M:%S}", error[-1] if error else "",
        ])  # fmt: skip
    print_rows(
        console,
        [("id", "number"), ("trigger", "name"), ("state", "name"), ("attempts", "number"),
         ("op", "name"), ("relation", "name"), ("created", "name"), ("last error", "text")],
        listed,
    )  # fmt: skip


@jobs.command()
@dsn_option
@click.argument("job_id", type=int)
@json_option
def show(dsn: str | None, job_id: int, as_json: bool) -> None:
    """Show one job with its row and every error it met."""
    rows = _db(dsn).query(query("show_job"), [job_id])
    if not rows:
        raise click.ClickException(f"job {job_id} does not exist (finished jobs are pruned)")
    job = rows[0]
    if as_json:
        echo_json(job)
        return
    for key in ("id", "trigger_name", "state", "attempts", "op", "relation", "run_id",
                "created_at", "run_at", "finished_at"):  # fmt: skip
        console.print(f"{key:>13}: {job[key]}")
    console.print(f"{'row':>13}: {json.dumps(job['row_data'], default=str)}", soft_wrap=True)
    for err in job["errors"]:
        console.print(f"\n[bold]attempt {err['attempt']}[/bold] at {err['at']} (run {err['run']}):")
        console.print(err["error"].rstrip(), soft_wrap=True, markup=False)


def _target(ids: tuple[int, ...], trigger: str | None) -> tuple[list[int], str | None]:
    if not ids and not trigger:
        raise click.UsageError("name job ids, or --trigger NAME for all its dead jobs")
    return list(ids), trigger


@jobs.command()
@dsn_option
@click.argument("job_ids", type=int, nargs=-1)
@click.option("--trigger", default=None, help="all dead jobs of this motion trigger")
def retry(dsn: str | None, job_ids: tuple[int, ...], trigger: str | None) -> None:
    """Make dead jobs ready again, with a fresh budget of attempts."""
    ids, name = _target(job_ids, trigger)
    done = _db(dsn).query(query("retry_jobs"), [ids, name])
    console.print(f"{len(done)} job(s) queued again")


@jobs.command()
@dsn_option
@click.argument("job_ids", type=int, nargs=-1)
@click.option("--trigger", default=None, help="all dead jobs of this motion trigger")
def discard(dsn: str | None, job_ids: tuple[int, ...], trigger: str | None) -> None:
    """Delete dead or pending jobs: their events will never be fitted."""
    ids, name = _target(job_ids, trigger)
    done = _db(dsn).query(query("discard_jobs"), [ids, name])
    console.print(f"{len(done)} job(s) discarded")
