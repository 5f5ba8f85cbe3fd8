"""``motion-pg worker``: the fit worker, with its logs, metrics endpoint and drain progress."""

from __future__ import annotations

import contextlib

import click
from rich.console import Console

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn
from motion_pg.errors import MotionError
from motion_pg.worker.budget import DEFAULT_BYTES, DEFAULT_EVENTS, DEFAULT_SECONDS

console = Console()


@main.command()
@dsn_option
@click.option("--once", is_flag=True, help="fit what is ready, then exit")
@click.option("--concurrency", default=1, show_default=True, help="worker processes")
@click.option("--poll-interval", default=1.0, show_default=True, help="seconds between polls")
@click.option(
    "--fit-batch",
    default=DEFAULT_EVENTS,
    show_default=True,
    help="events per fit call at most (a trigger's fit_batch setting overrides)",
)
@click.option(
    "--fit-batch-bytes",
    default=DEFAULT_BYTES,
    show_default=True,
    help="bytes of event data per fit call at most (fit_batch_bytes overrides)",
)
@click.option(
    "--fit-batch-time",
    default=DEFAULT_SECONDS,
    show_default=True,
    help="seconds a fit call should take, from the trigger's measured cost per event "
    "(fit_batch_time overrides)",
)
@click.option(
    "--lease", default=30.0, show_default=True, help="seconds a lost worker's fit stays claimed"
)
@click.option(
    "--grace",
    default=30.0,
    show_default=True,
    help="seconds a running fit may finish after SIGTERM",
)
@click.option(
    "--fit-timeout",
    default=600.0,
    show_default=True,
    help="seconds a fit may run (a trigger's fit_timeout param overrides)",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    help="directory this host imports trigger modules from (repeatable; default: the paths "
    "`install` recorded); triggers whose deployed code differs from this host's are left to "
    "other workers",
)
@click.option(
    "--infer-threads",
    default=8,
    show_default=True,
    type=click.IntRange(0, 256),
    help="threads calling infer for async triggers (infer_mode = 'async'); 0: no async infer here",
)
@click.option("-v", "--verbose", is_flag=True, help="log every fit")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line (time, level, logger, message, trigger, run_id, job_ids)",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="serve Prometheus metrics on this port (see `motion-pg metrics`)",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="address the metrics endpoint binds to (0.0.0.0: every interface)",
)
def worker(
    dsn: str | None,
    once: bool,
    concurrency: int,
    poll_interval: float,
    fit_batch: int,
    fit_batch_bytes: int,
    fit_batch_time: float,
    lease: float,
    grace: float,
    fit_timeout: float,
    paths: tuple[str, ...],
    infer_threads: int,
    verbose: bool,
    log_format: str,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the fit worker: committed events are fitted oldest first, per trigger."""
    from motion_pg.cli.progress import drain_progress
    from motion_pg.worker.logs import setup_logging
    from motion_pg.worker.pool import run_pool

    setup_logging(verbose=verbose, log_format=log_format)
    target = resolve_dsn(dsn)
    if metrics_port is not None:
        from motion_pg.cli.metrics_cmds import start_metrics

        start_metrics(target, metrics_host, metrics_port)
    progress: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if once and log_format == "text":
        progress = drain_progress(target, Console(stderr=True))
    try:
        with progress:
            runs = run_pool(
                target,
                concurrency=concurrency,
                once=once,
                poll_interval=poll_interval,
                fit_batch=fit_batch,
                fit_batch_bytes=fit_batch_bytes,
                fit_batch_time=fit_batch_time,
                lease_seconds=lease,
                grace_seconds=grace,
                fit_timeout=fit_timeout,
                paths=list(paths) or None,
                infer_threads=infer_threads,
            )
    except MotionError as e:
        raise click.ClickException(f"{e}\n({type(e).__name__}, sqlstate {e.sqlstate})") from e
    if once and log_format == "text":
        console.print(f"worker: {runs} fit run(s)")
