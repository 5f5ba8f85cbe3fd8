"""Reading a large state value from ``motion.blobs`` in slices, unpickled as it arrives.

A blob read whole costs a backend its stored pickle twice over (the detoasted value and the Python
bytes PL/Python copies it into) next to the value being unpickled. Read in slices of
:data:`SLICE` bytes (``substr`` of an uncompressed TOAST value fetches only the chunks it needs)
into an unpickler that fills each array's buffer in place, the peak is the value plus a slice.
A compressed blob would be decompressed from its start for every slice, so it is read whole.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from motion_pg.queries import query
from motion_pg.trigger import Database

SLICE = 1 << 20


class BlobGone(Exception):
    """The blob was deleted (pruned) while it was read."""


class _Slices(io.RawIOBase):
    """The bytes of blob ``blob_id`` (``size`` long), fetched a slice per ``readinto``."""

    def __init__(self, db: Database, blob_id: int, size: int) -> None:
        super().__init__()
        self._db, self._id, self._size, self._at = db, blob_id, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), SLICE, self._size - self._at)
        if want <= 0:
            return 0
        rows = self._db.query(query("blob_slice"), [self._id, self._at + 1, want])
        if not rows or rows[0]["part"] is None:
            raise BlobGone(self._id)
        part = rows[0]["part"]
        got = len(part)
        if got == 0:
            raise BlobGone(self._id)
        view[:got] = part
        self._at += got
        return got


def load_blob(db: Database, blob_id: int) -> tuple[bool, Any]:
    """``(True, value)`` of blob ``blob_id``, or ``(False, None)`` when it is gone."""
    meta = db.query(query("blob_stream_meta"), [blob_id])
    if not meta:
        return False, None
    size = int(meta[0]["bytes"])
    if meta[0]["compressed"] or size <= 2 * SLICE:
        rows = db.query(query("blobs_by_id"), [[blob_id]])
        if not rows:
            return False, None
        data = rows[0]["data"]
        del rows
        return True, pickle.loads(data)
    try:
        return True, pickle.Unpickler(io.BufferedReader(_Slices(db, blob_id, size), SLICE)).load()
    except BlobGone:
        return False, None
