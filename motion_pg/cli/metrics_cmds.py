"""``motion-pg metrics``: serve motion's Prometheus metrics, read from the catalog on each scrape."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from motion_pg.cli import main
from motion_pg.cli.options import dsn_option, resolve_dsn

log = logging.getLogger("motion_pg.metrics")


def start_metrics(dsn: str, host: str, port: int) -> int:
    """Serve the metrics of ``dsn`` on ``host:port`` from a daemon thread; returns the bound port."""
    from motion_pg.metrics import serve

    try:
        server, _collector = serve(dsn, port, host)
    except OSError as e:
        raise click.ClickException(
            f"cannot serve metrics on {host}:{port}: {e.strerror or e}; choose another port"
        ) from e
    bound = int(server.server_port)
    log.info("metrics: serving http://%s:%d/metrics", host, bound)
    return bound


@main.command()
@dsn_option
@click.option(
    "--port", type=click.IntRange(0, 65535), default=9188, show_default=True,
    help="port of the HTTP endpoint (0: any free port, printed at start)",
)  # fmt: skip
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="address to bind (0.0.0.0: every interface, for a Prometheus on another host)",
)  # fmt: skip
def metrics(dsn: str | None, port: int, host: str) -> None:
    """Serve Prometheus metrics (/metrics) per motion trigger until interrupted: queue depth,
    oldest pending age, dead jobs, fit durations, events fitted, fit failures, serving version,
    state bytes, infer errors and sampled infer latency."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    bound = start_metrics(resolve_dsn(dsn), host, port)
    click.echo(f"serving motion metrics on http://{host}:{bound}/metrics", err=True)
    stop.wait()
