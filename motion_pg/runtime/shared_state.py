"""Shared large states: one read-only, memory-mapped copy of each large state value per host.

A state value (a ``motion.blobs`` row) of at least ``motion.state_cache_min`` bytes is loaded
through a cache file (:mod:`.state_files`) named by the blob's content digest: the first backend
that needs it reads the database and writes the file; every other backend (and a worker running as
the server's OS user on the same host) maps the file, so the pages are shared instead of copied per
process. A digest names one content forever, so versions need no invalidation: a new version whose
value changed names another file, and :func:`sweep` (run by ``motion.prune``) deletes the files of
blobs the database no longer holds. A missing, truncated or corrupted file is logged with its
reason and the value is read from the database (and the file rewritten).

Where the files live is the server's business alone: ``motion.state_cache`` in postgresql.conf
(``auto``, the default: ``<data directory>/motion_state``; ``off``; or an absolute path), and
``motion.state_cache_min`` (bytes, default 1 MiB), read from the configuration files themselves
(``pg_file_settings``): a value a session, role or database SETs is never read, so no database
role can point the server at other files. Each database has its own subdirectory (mode 0700, files
0600), written only by the server's OS user.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from motion_pg.queries import query
from motion_pg.runtime.blob_stream import load_blob
from motion_pg.runtime.state_dropped import IDENTITY, sweep_dropped
from motion_pg.runtime.state_files import (
    SUFFIX,
    CacheFileError,
    check_dir,
    read_value,
    write_value,
)
from motion_pg.trigger import Database

logger = logging.getLogger("motion_pg.shared_state")
DEFAULT_MIN = 1 << 20
DIR_NAME = "motion_state"
# errors a backend must never swallow: cancels, shutdowns, resources, internal
_PROPAGATE = frozenset({"40", "53", "57", "58", "XX"})
_UNITS = {"": 1, "b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}


class SharedBlobs:
    """The cache files of one database on this host: ``directory``, files owned by uid ``owner``;
    values of at least ``min_bytes`` go through it; ``writable`` when this process may add files."""

    def __init__(
        self, directory: str, owner: int, min_bytes: int, log: Callable[[str], None],
        *, writable: bool,
    ) -> None:  # fmt: skip
        self.directory = directory
        self.owner = owner
        self.min_bytes = min_bytes
        self.writable = writable
        self.log = log

    def load(self, db: Database, blob_id: int, digest: bytes) -> tuple[bool, Any]:
        """``(True, value)`` of blob ``blob_id`` from its cache file, else read from the database
        (writing the file when this process may); ``(False, None)`` when the blob is gone."""
        missing = False
        try:
            return True, read_value(self.directory, digest, self.owner)
        except FileNotFoundError:
            reason, missing = "no cache file yet", True
        except CacheFileError as e:
            reason = str(e)
        except OSError as e:  # a symlink in its place (O_NOFOLLOW), no permission …
            reason = f"cannot open {digest.hex()}{SUFFIX}: {e}"
        except Exception as e:  # an unpicklable stream that passed the checksum
            reason = f"cannot unpickle {digest.hex()}{SUFFIX}: {type(e).__name__}: {e}"
        found, value = load_blob(db, blob_id)  # in slices: the pickle is never held whole
        if not found:
            return False, None
        if not self.writable:
            self.log(f"motion state cache: blob {blob_id}: {reason}; read from the database")
            return True, value
        try:
            write_value(self.directory, digest, value, replace=not missing, owner=self.owner)
            del value  # serve the shared mapping, not this process's private copy
            value = read_value(self.directory, digest, self.owner)
        except (OSError, CacheFileError) as e:
            self.log(f"motion state cache: blob {blob_id}: {reason}; read from the database, "
                      f"and the cache file could not be written: {e}")  # fmt: skip
            return True, value
        self.log(f"motion state cache: blob {blob_id}: {reason}; read from the database and "
                  f"wrote {digest.hex()}{SUFFIX}")  # fmt: skip
        return True, value


class BackendSource:
    """The cache of a backend's database, resolved once per backend from the server settings."""

    def __init__(self) -> None:
        self._resolved = False
        self._shared: SharedBlobs | None = None

    def get(self, db: Database) -> SharedBlobs | None:
        """The cache, or None when it is off (or unusable: the reason is logged once)."""
        if not self._resolved:
            plpy = getattr(db, "plpy", None)
            log: Callable[[str], None] = plpy.log if plpy is not None else logger.info
            try:
                self._shared = resolve(db, log, create=True)
            except (OSError, CacheFileError) as e:
                log(f"motion state cache: off for this session: {e}")
            except Exception as e:  # e.g. an install without motion._state_cache_settings
                if plpy is None or (getattr(e, "sqlstate", None) or "")[:2] in _PROPAGATE:
                    raise
                log(f"motion state cache: off for this session: {type(e).__name__}: {e}")
            self._resolved = True
        return self._shared


def parse_bytes(text: str) -> int:
    """``'1048576'``, ``'64kB'``, ``'1MB'`` … as bytes; ValueError otherwise."""
    raw = text.strip().lower().replace(" ", "")
    digits = raw.rstrip("kmgb")
    unit = raw[len(digits) :]
    if not digits.isdigit() or unit not in _UNITS:
        raise ValueError(
            f"motion.state_cache_min must be bytes (e.g. 1048576 or '1MB'), got {text!r}"
        )
    return int(digits) * _UNITS[unit]


def resolve(db: Database, log: Callable[[str], None], *, create: bool) -> SharedBlobs | None:
    """The cache of ``db``'s database in this server process (a backend): None when it is off."""
    config = db.query(query("state_cache_config"))[0]
    location = (config["location"] or "auto").strip()
    if location.lower() == "off":
        return None
    if location.lower() in ("auto", "on", ""):
        location = os.path.join(os.getcwd(), DIR_NAME)  # a backend runs in the data directory
    if not os.path.isabs(location):
        raise CacheFileError(f"motion.state_cache must be 'auto', 'off' or an absolute path, "
                             f"got {location!r}")  # fmt: skip
    try:
        min_bytes = parse_bytes(config["min"]) if config["min"] else DEFAULT_MIN
    except ValueError as e:
        raise CacheFileError(str(e)) from None
    owner = os.getuid()
    check_dir(location, owner, create=create)
    directory = os.path.join(location, str(config["database"]))
    check_dir(directory, owner, create=create)
    identity(directory)
    return SharedBlobs(directory, owner, min_bytes, log, writable=True)


def identity(directory: str) -> str:
    """The random token naming this cache directory (made once): a worker compares it with the one
    the server reports, so a directory at the same path on another host is never used."""
    path = os.path.join(directory, IDENTITY)
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        token = os.urandom(16).hex()
        temp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token)
        try:
            os.link(temp, path)  # never replaces a token another process made meanwhile
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
        with open(path, encoding="ascii") as f:
            return f.read().strip()


def location(db: Database) -> tuple[str | None, str | None, int]:
    """``motion.state_cache_location()``: this database's cache directory on the server's host, its
    identity token and the size threshold; ``(None, None, 0)`` when the cache is off."""
    plpy = getattr(db, "plpy", None)
    log: Callable[[str], None] = plpy.log if plpy is not None else logger.info
    try:
        shared = resolve(db, log, create=True)
    except (OSError, CacheFileError) as e:  # the caller (a worker) reads the database instead
        log(f"motion state cache: off: {e}")
        return None, None, 0
    except Exception as e:  # e.g. no EXECUTE on motion._state_cache_settings for this role
        if plpy is None or (getattr(e, "sqlstate", None) or "")[:2] in _PROPAGATE:
            raise
        log(f"motion state cache: off: {type(e).__name__}: {e}")
        return None, None, 0
    if shared is None:
        return None, None, 0
    return shared.directory, identity(shared.directory), shared.min_bytes


def sweep(db: Database, log: Callable[[str], None], *, stale_seconds: float = 600) -> int:
    """Delete the cache files of blobs this database no longer holds (pruned versions, dropped
    triggers), temporary files left by a crash, and the directories of dropped databases
    (:mod:`.state_dropped`); returns how many files and directories went."""
    try:
        shared = resolve(db, log, create=True)
    except (OSError, CacheFileError):
        return 0  # no usable cache directory: nothing to sweep
    if shared is None:
        return 0
    gone = sweep_dropped(db, os.path.dirname(shared.directory), shared.owner, log)
    names = os.listdir(shared.directory)
    digests = [n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX) and not n.startswith(".")]
    kept = (
        {r["digest"] for r in db.query(query("state_cache_kept"), [digests])} if digests else set()
    )
    removed = 0
    now = time.time()
    for name in names:
        path = os.path.join(shared.directory, name)
        doomed = name.endswith(SUFFIX) and name[: -len(SUFFIX)] not in kept
        if name.endswith(".tmp"):
            try:
                doomed = now - os.lstat(path).st_mtime > stale_seconds
            except FileNotFoundError:
                continue
        if doomed:
            try:
                os.unlink(path)  # a process that maps it keeps its pages until it lets go
                removed += 1
            except FileNotFoundError:
                pass
    return removed + gone
