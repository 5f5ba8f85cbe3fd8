"""The worker's logging: plain text lines, or one JSON object per line (``--log-format json``).

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``process``, and
where known ``trigger``, ``run_id`` and ``job_ids``: from the record's ``extra`` or from the
context :func:`log_context` sets around a fit run. An exception adds ``exception`` (its traceback).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

FIELDS = ("trigger", "run_id", "job_ids")
_ENV = "MOTION_PG_LOG"  # "json:info": what setup_logging chose, for spawned worker processes
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "motion_log_context", default=None
)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (e.g. ``trigger``, ``run_id``) to every record logged inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def setup_logging(*, verbose: bool = False, log_format: str = "text") -> None:
    """Configure the root logger for a worker process, and (through the environment) for the
    worker processes it spawns."""
    os.environ[_ENV] = f"{log_format}:{'info' if verbose else 'warning'}"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(processName)s %(levelname)s %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def setup_from_environment() -> None:
    """In a spawned worker process: the logging its parent's :func:`setup_logging` chose."""
    chosen = os.environ.get(_ENV)
    if chosen:
        log_format, _, level = chosen.partition(":")
        setup_logging(verbose=level == "info", log_format=log_format)
