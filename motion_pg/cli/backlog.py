"""The backlog part of ``motion-pg status``: backpressure policy, discarded events, violations."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from motion_pg.cli.tables import print_rows
from motion_pg.pg import PgDatabase
from motion_pg.queries import query


def read(db: PgDatabase) -> dict[str, dict[str, Any]]:
    """Per trigger name: its ``backlog_status`` row."""
    return {r["name"]: r for r in db.query(query("backlog_status"))}


def as_json(status: dict[str, Any], backlog: dict[str, Any] | None) -> dict[str, Any]:
    """The ``backlog`` object of ``status --json`` for one trigger (``status``: its status row)."""
    b = backlog or {}
    last = b.get("last_discard_at")
    return {
        "pending": status["pending"],
        "oldest_pending_seconds": status["oldest_pending_s"],
        "discard_after_seconds": b.get("discard_after"),
        "keep_latest": b.get("keep_latest"),
        "discarded": int(b.get("discarded_too_old", 0)) + int(b.get("discarded_beyond_latest", 0)),
        "discarded_too_old": int(b.get("discarded_too_old", 0)),
        "discarded_beyond_latest": int(b.get("discarded_beyond_latest", 0)),
        "last_discard_at": last.isoformat() if last is not None else None,
    }


def show(console: Console, rows: list[dict[str, Any]], backlog: dict[str, dict[str, Any]]) -> None:
    """A table of the triggers with a backlog policy, discarded events or violations."""
    shown = [
        (r, backlog[r["name"]])
        for r in rows
        if r["name"] in backlog
        and (
            backlog[r["name"]]["discard_after"] is not None
            or backlog[r["name"]]["keep_latest"] is not None
            or backlog[r["name"]]["last_discard_at"] is not None
            or backlog[r["name"]]["violations"]
        )
    ]
    if not shown:
        return
    console.print()
    print_rows(
        console,
        [("trigger", "name"), ("backlog", "number"), ("age", "number"), ("policy", "text"),
         ("discarded", "number"), ("last discard", "text"), ("violations", "number")],
        [[r["name"], str(r["pending"]), _age(r["oldest_pending_s"]), _policy(b),
          _discarded(b), _when(b["last_discard_at"]), str(b["violations"])]
         for r, b in shown],
    )  # fmt: skip


def _policy(b: dict[str, Any]) -> str:
    parts = []
    if b["discard_after"] is not None:
        parts.append(f"discard_after {_age(b['discard_after'])}")
    if b["keep_latest"] is not None:
        parts.append(f"keep_latest {b['keep_latest']}")
    return ", ".join(parts) or "keep all"


def _discarded(b: dict[str, Any]) -> str:
    old, latest = int(b["discarded_too_old"]), int(b["discarded_beyond_latest"])
    if not old and not latest:
        return "0"
    parts = [f"{old} too old"] if old else []
    parts += [f"{latest} beyond latest"] if latest else []
    return f"{old + latest} ({', '.join(parts)})"


def _when(at: Any) -> str:
    return "-" if at is None else at.isoformat(" ", "seconds")


def _age(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
