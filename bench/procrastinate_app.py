"""A procrastinate app with one no-op task, the B6 baseline (a peer queue on the same database).

Workers: ``procrastinate --app bench.procrastinate_app.app worker`` with ``MOTION_DSN`` set.
"""

from __future__ import annotations

import os
from typing import Any

from procrastinate import App, PsycopgConnector

app = App(connector=PsycopgConnector(conninfo=os.environ.get("MOTION_DSN", "")))


@app.task(name="noop")
def noop(**kwargs: Any) -> None:
    """Does nothing: the queue's own cost is what is measured."""
