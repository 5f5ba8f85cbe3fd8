"""Which triggers this worker may fit: those whose deployed code is the code on this host.

Workers on several hosts each import trigger code from their own directories (``motion-pg worker
--path DIR``). A worker whose copy differs from the deployed code (another digest, or the module is
missing) must not fit that trigger: claiming it would only fail the fit and spend the events'
attempts. The gate compares the deployed digests (``motion.triggers.code_digest``) with the code on
this host when a worker first claims a trigger: a refused claim is handed back without spending an
attempt, later claims skip the trigger (re-checked every few seconds without claiming), so workers
with the deployed code take it; each change is logged once with what to do.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from motion_pg.errors import MotionError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import identity

log = logging.getLogger("motion_pg.worker")


class CodeGate:
    """Which triggers this worker leaves to others.

    A trigger is checked when this worker first claims it (the claim is then handed back without
    spending an attempt if the code here differs) and, while refused, every ``interval`` seconds
    without claiming it. A module that cannot be read at all is not refused here: the fit then
    fails with its own error, as it does on a single host.
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._checked: dict[str, float] = {}  # trigger -> when its code was last compared
        self._refused: dict[str, str] = {}  # trigger -> why this host does not fit it

    @property
    def excluded(self) -> list[str]:
        """The names of the triggers this worker does not claim."""
        return sorted(self._refused)

    def refusal(self, conn: psycopg.Connection[Any], trigger: str) -> str | None:
        """Why this host must not fit ``trigger`` (its code differs from the deployed code), or
        None; compared again only after ``interval`` seconds."""
        now = time.monotonic()
        if now - self._checked.get(trigger, float("-inf")) >= self.interval:
            self._checked[trigger] = now
            self._update(trigger, self._compare(conn, trigger))
        return self._refused.get(trigger)

    def recheck(self, conn: psycopg.Connection[Any]) -> None:
        """Compare again the triggers whose time has come: a refused one (a RELOAD, or new code
        here, lets it back) and an accepted one (a deploy this host lacks), off the claim's path:
        the worker calls this after a fit, so that a claim finds the comparison done (at half
        its interval: the next claim comes before the comparison is due)."""
        now = time.monotonic()
        for trigger, checked in list(self._checked.items()):
            if now - checked >= self.interval / 2:
                self._checked[trigger] = now
                self._update(trigger, self._compare(conn, trigger))

    def _compare(self, conn: psycopg.Connection[Any], trigger: str) -> str | None:
        rows = PgDatabase(conn).query(query("deployed_code_of"), [trigger])
        if not rows or rows[0]["code_digest"] is None:
            return None  # gone, or deployed before code identity was recorded
        class_ref, deployed = rows[0]["class_ref"], rows[0]["code_digest"]
        try:
            here = identity.identify(class_ref).digest
        except MotionError:
            return None
        if here == deployed:
            return None
        return (
            f"the code on this host differs from the deployed code of {class_ref!r} "
            f"(deployed {deployed[:12]}, here {here[:12]})"
        )

    def _update(self, trigger: str, why: str | None) -> None:
        if why is not None and self._refused.get(trigger) != why:
            log.warning(
                'not fitting motion trigger "%s" on this host: %s; workers with the deployed code '
                "fit it. Deploy the same code here (motion-pg worker --path DIR), or deploy this "
                "code with ALTER MOTION TRIGGER %s RELOAD",
                trigger, why, trigger,
            )  # fmt: skip
        if why is None and trigger in self._refused:
            log.warning('motion trigger "%s": this host has the deployed code again', trigger)
        if why is None:
            self._refused.pop(trigger, None)
        else:
            self._refused[trigger] = why
