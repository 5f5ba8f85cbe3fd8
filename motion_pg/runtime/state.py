"""State versions: reading a version into a read-only mapping, and writing version n+1.

A state is a dict of picklable values. Each value is pickled on its own and stored once per trigger
by content digest, so a version that changes one key of a large state writes only that key, and a
reader that already holds the other values does not unpickle them again.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from motion_pg.errors import FitError
from motion_pg.queries import query
from motion_pg.runtime import state_publish
from motion_pg.runtime.retention import check_not_pruned
from motion_pg.runtime.shared_state import SharedBlobs
from motion_pg.settings import Settings
from motion_pg.trigger import Database

# how many bytes of values may come with a version's keys in BlobCache.load's one query; the rest
# are read one at a time, so a large state is never twice in flight
INLINE_BYTES = 64 << 10


class SharedSource(Protocol):
    """Where a process finds the host's shared state cache (:mod:`.shared_state`), if anywhere."""

    def get(self, db: Database) -> SharedBlobs | None: ...


class BlobCache:
    """Unpickled values by blob id, kept for the values the current versions use.

    With a ``shared`` source, large values are mapped from the host's shared cache files instead
    of unpickled from the database into this process (:mod:`.shared_state`)."""

    def __init__(self, shared: SharedSource | None = None) -> None:
        self.shared = shared
        self._values: dict[int, Any] = {}
        self._in_use: dict[str, set[int]] = {}  # trigger -> blob ids of its latest loaded version

    def load(self, db: Database, trigger: str, version: int) -> Mapping[str, Any]:
        """The state of ``trigger`` at ``version``, as a read-only mapping.

        Values the trigger's previous version used and this one does not are forgotten, so a
        backend holds one copy of each served state, not every version it ever served. A version
        pruned by retention is refused with a :class:`DefinitionError` saying so.

        One query reads the version's keys together with the values this cache does not hold yet,
        smallest first, up to :data:`INLINE_BYTES` in all: a new version of a small state costs
        one round trip. The other values come one at a time, or from the host's shared cache.
        """
        held = [i for i in self._in_use.get(trigger, ()) if i in self._values]
        entries = db.query(query("state_entries_inline"), [trigger, version, held, INLINE_BYTES])
        if not entries:  # an empty state, or one retention pruned
            check_not_pruned(db, trigger, version)
        wanted = {int(e["blob_id"]) for e in entries}
        self._in_use[trigger] = wanted
        self.retain(set().union(*self._in_use.values()))
        missing = {int(e["blob_id"]): e for e in entries if int(e["blob_id"]) not in self._values}
        shared = self.shared.get(db) if self.shared is not None and missing else None
        for blob_id, entry in missing.items():
            if entry["bytes"] is None:  # the blob went between the two tables' reads
                continue
            if shared is not None and int(entry["bytes"]) >= shared.min_bytes:
                found, value = shared.load(db, blob_id, bytes(entry["digest"]))
                if found:
                    self._values[blob_id] = value
                del value
            elif entry["data"] is not None:
                self._values[blob_id] = pickle.loads(entry["data"])
            entry["data"] = None
        for blob_id in [i for i in missing if i not in self._values]:
            # one at a time: a large state is never twice in flight
            for row in db.query(query("blobs_by_id"), [[blob_id]]):
                data = row["data"]
                self._values[int(row["id"])] = pickle.loads(data)
                del row, data
        if any(i not in self._values for i in wanted):  # pruned between the two reads
            check_not_pruned(db, trigger, version)
            raise FitError(f"motion trigger {trigger!r}: state version {version} lost a value "
                           "while it was read")  # fmt: skip
        state = {e["key"]: self._values[int(e["blob_id"])] for e in entries}
        return MappingProxyType(state)

    def retain(self, blob_ids: set[int]) -> None:
        """Forget every value not in ``blob_ids``."""
        for key in [k for k in self._values if k not in blob_ids]:
            del self._values[key]


def write_version(
    db: Database,
    trigger: str,
    updates: Mapping[str, Any],
    *,
    source: str,
    parent: int | None,
    params: Mapping[str, Any],
    settings: Settings,
    run_id: int | None = None,
    pickled: bool = False,
    inherit: bool = True,
    base: int | None = None,
    restored_from: int | None = None,
) -> int:
    """Write version n+1 = ``parent`` merged with ``updates`` and serve it (unless the trigger is
    pinned: then it waits behind the pin); returns its number.

    With ``inherit=False`` the version holds ``updates`` alone (REFIT: setup's state replaces the
    parent's) while ``parent`` is still recorded as its lineage.

    With ``pickled`` the values of ``updates`` are already pickled bytes (the fit process pickles
    what it returns, so the worker never unpickles user objects). The caller holds the trigger's catalog row lock (``trigger_for_update``) so versions are
    numbered serially.
    """
    if not isinstance(updates, Mapping):
        raise FitError(
            f"motion trigger {trigger!r}: state updates must be a dict, got {type(updates).__name__}"
        )
    keys = list(updates)
    for key in keys:
        if not isinstance(key, str):
            raise FitError(f"motion trigger {trigger!r}: state keys must be strings, got {key!r}")
    version = int(db.query(query("next_version"), [trigger])[0]["version"])
    db.query(
        query("insert_version"),
        [
            trigger,
            version,
            source,
            run_id,
            parent,
            json.dumps(dict(params)),
            json.dumps(settings.to_json()),
            restored_from,
        ],
    )
    start = base if base is not None else parent
    if start is not None and inherit:
        db.query(query("copy_entries"), [trigger, version, start, keys])
    for key, value in updates.items():
        data = value if pickled else pickle_value(trigger, key, value)
        blob_id = store_blob(db, trigger, data)
        db.query(query("insert_entry"), [trigger, version, key, blob_id])
        state_publish.publish(db, blob_id, data, None if pickled else value)  # its cache file
    db.query(query("finish_version"), [trigger, version])
    db.query(query("serve_version"), [trigger, version])
    return version


def head_version(db: Database, trigger: str) -> int | None:
    """The newest version of ``trigger``: what a fit folds onto. It is the serving version unless
    the trigger is pinned (``PIN VERSION``), when it may be newer than the one served."""
    rows = db.query(query("head_version"), [trigger])
    return int(rows[0]["version"]) if rows and rows[0]["version"] is not None else None


def store_blob(db: Database, trigger: str, data: bytes) -> int:
    """The id of a blob holding ``data`` for ``trigger``, inserting it only if it is new."""
    digest = hashlib.sha256(data).digest()
    found = db.query(query("blob_by_digest"), [trigger, digest])
    if found:
        return int(found[0]["id"])
    return int(db.query(query("insert_blob"), [trigger, digest, data])[0]["id"])


def pickle_value(trigger: str, key: str, value: Any) -> bytes:
    """``value`` pickled for storage, or a :class:`FitError` naming the key."""
    try:
        return pickle.dumps(value, protocol=5)
    except Exception as e:
        raise FitError(
            f"motion trigger {trigger!r}: state value {key!r} cannot be pickled: "
            f"{type(e).__name__}: {e}",
            hint="state values must be picklable (models, arrays, numbers, strings, dicts)",
        ) from e
