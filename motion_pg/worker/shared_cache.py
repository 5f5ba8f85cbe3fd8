"""The worker's side of shared large states: map the server's cache files when on the same host.

The server reports where this database's cache lives and the directory's identity token
(``motion.state_cache_location()``). A worker uses the directory only when it finds it at that path
with that token, as a real directory private to its owner, and may read it (it runs as the server's
OS user, or as root); a worker on another host, or under another OS user, finds no such directory
and reads states from the database as before. It writes files only when it runs as the directory's
owner.
"""

from __future__ import annotations

import logging
import os
import stat

import psycopg

from motion_pg.queries import query
from motion_pg.runtime.shared_state import IDENTITY, SharedBlobs
from motion_pg.trigger import Database

logger = logging.getLogger("motion_pg.worker.shared_cache")
_AVAILABLE = (
    "SELECT pg_catalog.to_regprocedure('motion.state_cache_location()') IS NOT NULL"
    " AND pg_catalog.has_function_privilege('motion.state_cache_location()', 'EXECUTE') AS ok"
)


class WorkerSource:
    """The server's cache as this worker sees it, resolved on first use."""

    def __init__(self) -> None:
        self._resolved = False
        self._shared: SharedBlobs | None = None

    def get(self, db: Database) -> SharedBlobs | None:
        """The cache, or None: another host, another OS user, or the cache is off."""
        if not self._resolved:
            self._resolved = True
            conn = getattr(db, "conn", None)
            try:
                if conn is None:
                    self._shared = _resolve(db)
                else:  # a savepoint: a failure here must not abort the fit's transaction
                    with conn.transaction():
                        self._shared = _resolve(db)
            except psycopg.Error as e:
                logger.info("motion state cache: not used by this worker (%s)", e)
        return self._shared


def _resolve(db: Database) -> SharedBlobs | None:
    available = db.query(_AVAILABLE)
    if not available or not available[0]["ok"]:
        return None
    row = db.query(query("state_cache_location"))[0]
    path, token = row["path"], row["identity"]
    if path is None or token is None:
        return None
    reason = _unusable(str(path), str(token))
    if reason is not None:
        logger.info("motion state cache: not used by this worker (%s); states are read from the "
                    "database", reason)  # fmt: skip
        return None
    owner = os.lstat(path).st_uid
    logger.info("motion state cache: this worker maps the server's files in %s", path)
    return SharedBlobs(path, owner, int(row["min_bytes"]), logger.info,
                       writable=os.getuid() == owner)  # fmt: skip


def _unusable(path: str, token: str) -> str | None:
    """Why the directory at ``path`` is not the server's cache for this worker, or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return f"no directory {path} on this host"
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o077:
        return f"{path} is not a directory private to its owner"
    if os.getuid() not in (st.st_uid, 0):
        return f"{path} belongs to uid {st.st_uid}, this worker runs as uid {os.getuid()}"
    try:
        fd = os.open(os.path.join(path, IDENTITY), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="ascii") as f:
            if os.fstat(f.fileno()).st_uid != st.st_uid or f.read().strip() != token:
                return f"{path} is another server's cache (identity differs)"
    except OSError as e:
        return f"cannot read {path}: {e}"
    return None
