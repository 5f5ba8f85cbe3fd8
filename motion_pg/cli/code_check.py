"""``motion-pg status``: each trigger's deployed code, and whether the code on disk is still it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from motion_pg.errors import MotionError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import identity
from motion_pg.worker.paths import prepend_paths, recorded_paths


@dataclass(frozen=True)
class CodeCheck:
    """A trigger's deployed digest (short, or "-" when not recorded) and a warning, if any."""

    deployed: str
    warning: str | None = None


def check_code(conn: psycopg.Connection[Any]) -> dict[str, CodeCheck]:
    """Per trigger: its deployed code and a warning when the code on disk differs from it (read
    with the database's recorded import paths first, as the server and the workers import)."""
    rows = PgDatabase(conn).query(query("deployed_code"))
    prepend_paths(recorded_paths(conn))
    checks: dict[str, CodeCheck] = {}
    for r in rows:
        name, deployed = r["name"], r["code_digest"]
        if deployed is None:
            checks[name] = CodeCheck("-")
            continue
        try:
            on_disk = identity.identify(r["class_ref"]).digest
        except MotionError as e:
            checks[name] = CodeCheck(deployed[:12], f'motion trigger "{name}": {e.message}')
            continue
        warning = None
        if on_disk != deployed:
            warning = (
                f'motion trigger "{name}": the code on disk ({on_disk[:12]}) differs from the '
                f"deployed code ({deployed[:12]}); deploy it with ALTER MOTION TRIGGER {name} "
                "RELOAD"
            )
        checks[name] = CodeCheck(deployed[:12], warning)
    return checks
