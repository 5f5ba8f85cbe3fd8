"""Retention: which versions lost their state to ``motion.prune``, said clearly.

A pruned version keeps its ``motion.versions`` row (a tombstone: params, settings, code digest and
parent stay), but its state is gone; every reader of a version's state (ROLLBACK TO VERSION, PIN
VERSION, ``motion.state``, a backend or fit loading state) refuses it with the same message.
"""

from __future__ import annotations

from motion_pg.errors import DefinitionError
from motion_pg.queries import query
from motion_pg.trigger import Database


def pruned_hint(trigger: str) -> str:
    """What to do about a pruned version of ``trigger``."""
    return (
        f"use a kept version (see motion.version_history); to keep more, ALTER MOTION TRIGGER "
        f"{trigger} SET (keep_versions = n), or PIN VERSION one to hold it"
    )


def pruned_message(db: Database, trigger: str, version: int) -> str | None:
    """Why ``version`` of ``trigger`` has no state (pruned when, which versions are kept), or None
    when it was not pruned."""
    rows = db.query(query("pruned_message"), [trigger, version])
    return str(rows[0]["message"]) if rows and rows[0]["message"] is not None else None


def check_not_pruned(db: Database, trigger: str, version: int) -> None:
    """Raise :class:`DefinitionError` when ``version`` of ``trigger`` was pruned by retention."""
    message = pruned_message(db, trigger, version)
    if message is not None:
        raise DefinitionError(message, hint=pruned_hint(trigger))
