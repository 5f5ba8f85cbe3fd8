"""The plan of every statement a test runs, nested ones too (the statements inside motion's
PL/pgSQL functions, with the plans PL/pgSQL kept): auto_explain logged to the test's own client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


@contextmanager
def logged_plans(conn: psycopg.Connection[Any], *, analyze: bool = False) -> Iterator[list[str]]:
    """Inside a transaction the caller holds open: collect the auto_explain message of every
    statement run until the block ends (``analyze``: executed, with buffers, in JSON; read them
    with :func:`plan_of`)."""
    messages: list[str] = []

    def notice(d: psycopg.errors.Diagnostic) -> None:
        if d.severity_nonlocalized == "LOG" and (d.message_primary or "").startswith("duration"):
            messages.append(d.message_primary or "")

    settings = [
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
    ]
    if analyze:
        settings += [("auto_explain.log_analyze", "on"), ("auto_explain.log_buffers", "on"),
                     ("auto_explain.log_timing", "off"), ("auto_explain.log_format", "json")]  # fmt: skip
    conn.add_notice_handler(notice)
    try:
        conn.execute("LOAD 'auto_explain'")
        for name, value in [*settings, ("client_min_messages", "log")]:
            conn.execute(f"SET LOCAL {name} = {value}")
        yield messages
        conn.execute("SET LOCAL client_min_messages = notice")
    finally:
        conn.remove_notice_handler(notice)


def plan_of(message: str) -> dict[str, Any]:
    """A JSON plan logged by :func:`logged_plans` (``analyze``), with its duration as ``ms``."""
    plan = dict(json.loads(message.partition("plan:")[2]))
    plan["ms"] = float(message.split()[1])
    return plan
