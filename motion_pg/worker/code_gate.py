"""Which triggers this worker may fit: those whose deployed code is the code on this host.

Workers on several hosts each import trigger code from their own directories (``motion-pg worker
--path DIR``). A worker whose copy differs from the deployed code (another digest, or the module is
missing) must not fit that trigger: claiming it would only fail the fit and spend the events'
attempts. The gate compares the deployed digests (``motion.triggers.code_digest``) with the code on
this host every few seconds; the claim skips the triggers it names, so workers with the deployed
code take them, and each change is logged once with what to do.
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
    """The triggers this worker leaves to others, refreshed at most every ``interval`` seconds."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._checked = float("-inf")
        self._refused: dict[str, str] = {}  # trigger -> why this host does not fit it

    @property
    def excluded(self) -> list[str]:
        """The names of the triggers this worker does not claim."""
        return sorted(self._refused)

    def refresh(self, conn: psycopg.Connection[Any], *, force: bool = False) -> None:
        """Compare every trigger's deployed code with this host's, unless checked recently."""
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return
        self._checked = now
        refused: dict[str, str] = {}
        digests: dict[str, str] = {}  # class_ref -> digest on this host, or a reason prefixed "!"
        for row in PgDatabase(conn).query(query("deployed_code")):
            name, class_ref, deployed = row["name"], row["class_ref"], row["code_digest"]
            if class_ref not in digests:
                try:
                    digests[class_ref] = identity.identify(class_ref).digest
                except MotionError as e:
                    digests[class_ref] = "!" + e.message
            here = digests[class_ref]
            if here.startswith("!"):
                refused[name] = f"its module cannot be read on this host: {here[1:]}"
            elif here != deployed:
                refused[name] = (
                    f"the code on this host differs from the deployed code of {class_ref!r} "
                    f"(deployed {deployed[:12]}, here {here[:12]})"
                )
        for name, why in refused.items():
            if self._refused.get(name) != why:
                log.warning(
                    'not fitting motion trigger "%s" on this host: %s; workers with the deployed '
                    "code fit it. Deploy the same code here (motion-pg worker --path DIR), or "
                    "deploy this code with ALTER MOTION TRIGGER %s RELOAD",
                    name, why, name,
                )  # fmt: skip
        for name in self._refused.keys() - refused.keys():
            log.warning('motion trigger "%s": this host has the deployed code again', name)
        self._refused = refused
