"""Lineage stamps in this backend's memory: the statement's stamp per route, and what
``motion.lineage_guard`` may accept (:func:`accept`, through ``motion._lineage_accept``).

Nothing here is reachable by a client: the stamp is built from the statement's transaction, time
and login role that ``motion.infer_statement`` passes (or one query, :func:`fresh_stamp`), and the
guard accepts a new stamp only for the row infer just wrote it into, or while a batch write-back
of this backend writes it.
"""

from __future__ import annotations

from typing import Any

from motion_pg.queries import query
from motion_pg.runtime import stamps
from motion_pg.runtime.routes import LoadedTrigger, Route

# the stamp infer wrote into the row being UPDATEd, per (trigger, lineage column), taken by
# motion.lineage_guard for that same row; and the stamps a batch write-back is writing
tokens: dict[tuple[str, str], bytes] = {}
batch_stamps: dict[tuple[str, str], set[bytes]] = {}
_clock: Any = None


# timestamptz_send's µs count from 2000-01-01 to µs since the Unix epoch
_Y2K_MICROS = 946_684_800_000_000


def send_micros(sent: bytes) -> int:
    """µs since the Unix epoch of a ``timestamptz_send`` value (8 bytes, big-endian signed µs since
    2000-01-01 UTC): exact, where SQL's ``EXTRACT(epoch …)`` computes in numeric."""
    return int.from_bytes(sent, "big", signed=True) + _Y2K_MICROS


def set_stamp(loaded: LoadedTrigger, route: Route, xact: int, micros: int, role: int) -> None:
    """Make ``route`` stamp the rows of the statement running in transaction ``xact`` at
    ``micros`` for login ``role`` (when its lineage column exists and the served settings say
    lineage = true)."""
    column = route.lineage_column if loaded.settings.lineage else None
    route.stamp_column = column
    if column is not None:
        route.start_statement(
            stamps.head(route.info.ordinal, loaded.version, loaded.deploy_id, role, xact, micros)
        )


def fresh_stamp(plpy: Any, loaded: LoadedTrigger, route: Route) -> None:
    """Stamp for a row no statement trigger announced (a partition's rows): one query."""
    global _clock
    if _clock is None:
        _clock = plpy.prepare(query("lineage_clock"))
    row = plpy.execute(_clock)[0]
    set_stamp(loaded, route, row["xact"], row["micros"], row["role"])


def accept(trigger: str, column: str, stamp: bytes) -> bool:
    """``motion._lineage_accept``: whether ``stamp`` in column ``column`` of the row being
    UPDATEd is the one motion's infer wrote into that very row (or a batch write-back is writing)."""
    key = (trigger, column)
    if tokens.pop(key, None) == stamp:
        return True
    return stamp in batch_stamps.get(key, ())
