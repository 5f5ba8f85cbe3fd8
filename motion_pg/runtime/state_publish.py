"""The version writer writes the shared cache file of a large state value (:mod:`.shared_state`).

Whoever writes a version whose value is at least ``motion.state_cache_min`` bytes also writes the
value's cache file, before the version commits: a backend (CREATE's setup, REFIT) through the
server's settings, the worker (a fit, a REFIT) when it runs on the server's host as the server's
OS user and finds the cache directory with the server's identity token. So the first infer of a new
version maps the file instead of reading the database, unpickling and writing the file itself.

The file is named by the value's content digest, so writing it before the commit is never wrong:
a version that rolls back leaves a file no blob names, which ``motion.prune`` sweeps. A writer that
cannot write the file (a full disk, a crash before it) costs the first infer a fallback to the
database with a logged reason, never a wrong value. Values that already have a file, and values
another process is writing, are not written again.
"""

from __future__ import annotations

import logging
import os
import pickle
import stat
from types import ModuleType
from typing import Any
from weakref import WeakKeyDictionary

from motion_pg.queries import query
from motion_pg.runtime.shared_state import BackendSource, SharedBlobs
from motion_pg.runtime.state_dropped import IDENTITY
from motion_pg.runtime.state_files import file_name, write_value
from motion_pg.trigger import Database

logger = logging.getLogger("motion_pg.shared_state")
BACKEND = BackendSource()  # a backend's own cache, resolved once per backend
_AVAILABLE = (
    "SELECT pg_catalog.to_regprocedure('motion.state_cache_location()') IS NOT NULL"
    " AND pg_catalog.has_function_privilege('motion.state_cache_location()', 'EXECUTE') AS ok"
)
# a client process's cache per connection (a worker's): None when it cannot use the server's
_clients: WeakKeyDictionary[Any, SharedBlobs | None] = WeakKeyDictionary()


def cache_of(db: Database) -> SharedBlobs | None:
    """The host's cache as the process running ``db`` sees it: a backend's (server settings), or a
    client's (a worker on the server's host, as its OS user); None when it has none."""
    plpy = getattr(db, "plpy", None)
    if plpy is not None:  # a backend (the plpy module); a managed install's client writes none
        return BACKEND.get(db) if isinstance(plpy, ModuleType) else None
    conn = getattr(db, "conn", None)
    if conn is None:
        return None
    if conn not in _clients:
        try:
            with conn.transaction():  # a savepoint: a failure must not abort the caller's work
                _clients[conn] = _resolve_client(db)
        except Exception as e:  # e.g. no EXECUTE on motion.state_cache_location()
            logger.info("motion state cache: not used by this process (%s)", e)
            _clients[conn] = None
    return _clients[conn]


def publish(db: Database, blob_id: int, data: bytes, value: Any = None) -> None:
    """Write the cache file of blob ``blob_id`` (pickled ``data``; ``value`` its unpickled value,
    when the caller holds it, else None) if it is large enough and has none yet; never raises for
    the file (a large value is never None)."""
    shared = cache_of(db)
    if shared is None or not shared.writable or len(data) < shared.min_bytes:
        return
    rows = db.query(query("blob_digest"), [blob_id])
    if rows:
        write(shared, bytes(rows[0]["digest"]), data, value, f"blob {blob_id}")


def write(shared: SharedBlobs, digest: bytes, data: bytes | None, value: Any, what: str) -> bool:
    """Write the cache file of ``digest`` in ``shared`` from ``value`` (None: unpickled from
    ``data``) unless a file is there; False (the reason logged) when it could not be written."""
    if not shared.writable:
        return False
    try:
        if os.path.lexists(os.path.join(shared.directory, file_name(digest))):
            return True
        if value is None:
            assert data is not None
            value = pickle.loads(data)  # an array's bytes: one copy beside the pickle, no more
        write_value(shared.directory, digest, value, replace=False, owner=shared.owner)
    except Exception as e:  # the version is written anyway; its first infer reads the database
        shared.log(f"motion state cache: {what}: the cache file could not be written: "
                   f"{type(e).__name__}: {e}")  # fmt: skip
        return False
    return True


def _resolve_client(db: Database) -> SharedBlobs | None:
    available = db.query(_AVAILABLE)
    if not available or not available[0]["ok"]:
        return None
    row = db.query(query("state_cache_location"))[0]
    path, token = row["path"], row["identity"]
    if path is None or token is None:
        return None
    reason = unusable(str(path), str(token))
    if reason is not None:
        logger.info("motion state cache: not used by this process (%s); states are read from the "
                    "database", reason)  # fmt: skip
        return None
    owner = os.lstat(path).st_uid
    logger.info("motion state cache: this process maps the server's files in %s", path)
    return SharedBlobs(path, owner, int(row["min_bytes"]), logger.info,
                       writable=os.getuid() in (owner, 0))  # fmt: skip


def unusable(path: str, token: str) -> str | None:
    """Why the directory at ``path`` is not the server's cache for this process, or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return f"no directory {path} on this host"
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o077:
        return f"{path} is not a directory private to its owner"
    if os.getuid() not in (st.st_uid, 0):
        return f"{path} belongs to uid {st.st_uid}, this process runs as uid {os.getuid()}"
    try:
        fd = os.open(os.path.join(path, IDENTITY), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="ascii") as f:
            if os.fstat(f.fileno()).st_uid != st.st_uid or f.read().strip() != token:
                return f"{path} is another server's cache (identity differs)"
    except OSError as e:
        return f"cannot read {path}: {e}"
    return None
