"""Where the compiler runs: the caller's transaction, pinned to ``search_path = pg_catalog, pg_temp``.

``motion._exec`` is pinned, so motion's own SQL never resolves a function, operator or type through a
schema the caller's role does not control. The caller's search_path arrives as an argument; the
compiler switches to it (transaction-locally, and back) only around SQL the caller wrote or user code
runs: the plain-SQL chunks of a mixed text here, and the class's ``setup`` through its ``ctx.db``
(:func:`motion_pg.runtime.plpy_db.user_database`, under the path CREATE records).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from motion_pg.runtime.plpy_db import PlpyDatabase

PINNED = "pg_catalog, pg_temp"


def recorded_path(caller_path: Sequence[str]) -> list[str]:
    """The schemas of ``caller_path`` that user code resolves names in: explicit ones, no temp
    schema (it belongs to one session; a trigger outlives it)."""
    return [s for s in caller_path if not s.startswith(("pg_temp", "pg_toast_temp"))]


def path_setting(schemas: Sequence[str]) -> str:
    """``schemas`` as a search_path value, each name quoted."""
    return ", ".join('"' + s.replace('"', '""') + '"' for s in schemas) or "''"


class Session:
    """The database the compiler works in, and the search_path of the statement's caller."""

    def __init__(self, plpy: Any, db: PlpyDatabase, caller_path: Sequence[str]) -> None:
        self.plpy = plpy
        self.db = db
        self.caller_path = list(caller_path)

    def notice(self, message: str) -> None:
        """Send a NOTICE to the client."""
        self.plpy.notice(message)

    def run_user_sql(self, text: str) -> None:
        """Run SQL the caller wrote under the caller's search_path, then pin again, also when it
        fails."""
        self._set(path_setting(self.caller_path))
        try:
            self.plpy.execute(text)
        finally:
            self._set(PINNED)

    def _set(self, value: str) -> None:
        # pinned or not, set_config is reached through pg_catalog explicitly
        self.plpy.execute(
            self.plpy.prepare("SELECT pg_catalog.set_config('search_path', $1, true)", ["text"]),
            [value],
        )
