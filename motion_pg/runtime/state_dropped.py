"""The cache directories of dropped databases: swept by any database's ``motion.prune``.

Each database has its cache subdirectory named by its oid (:mod:`.shared_state`). ``DROP DATABASE``
runs no code of motion's, so its directory stays behind; the next ``motion.prune`` of any database
on the server (the worker runs it on its schedule) deletes the directories of oids that no longer
name a database. Only what motion made is touched: a real directory (never a symlink) owned by the
server's OS user, holding an identity token and nothing but cache files; the files are unlinked
through the directory's own descriptor, so a symlink swapped in meanwhile is never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable

from motion_pg.queries import query
from motion_pg.runtime.state_files import SUFFIX
from motion_pg.trigger import Database

IDENTITY = "identity"  # as in shared_state (which imports this module)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def sweep_dropped(db: Database, root: str, owner: int, log: Callable[[str], None]) -> int:
    """Delete the cache directories under ``root`` of databases that no longer exist; returns how
    many went. A directory that holds anything motion did not write is left, with a LOG line."""
    try:
        names = [n for n in os.listdir(root) if n.isdigit()]
    except OSError:
        return 0
    if not names:
        return 0
    alive = {str(r["oid"]) for r in db.query(query("state_cache_databases"))}
    removed = 0
    for name in names:
        if name in alive:
            continue
        reason = _remove(root, name, owner)
        if reason is None:
            removed += 1
            log(f"motion state cache: removed {os.path.join(root, name)}: its database "
                f"(oid {name}) no longer exists")  # fmt: skip
        elif reason:
            log(f"motion state cache: left {os.path.join(root, name)} of dropped database "
                f"oid {name}: {reason}")  # fmt: skip
    return removed


def _ours(entry: str) -> bool:
    """A name motion writes in a cache directory: a value's file, the token, a temporary file."""
    return entry == IDENTITY or entry.endswith(SUFFIX) or entry.endswith(".tmp")


def _remove(root: str, name: str, owner: int) -> str | None:
    """Remove ``root/name`` when motion made it: None when removed, else why not ('' when it is
    simply gone or not a directory of motion's at all)."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=root_fd)
        except FileNotFoundError:
            return ""
        except OSError as e:  # a symlink (ELOOP), not a directory
            return f"not a directory of motion's ({e.strerror})"
        try:
            st = os.fstat(fd)
            if st.st_uid != owner or st.st_mode & 0o022:
                return f"owned by uid {st.st_uid} (mode {stat.S_IMODE(st.st_mode):o}), not motion's"
            entries = os.listdir(fd)
            if IDENTITY not in entries:
                return "no identity token: not made by motion"
            foreign = [e for e in entries if not _ours(e)]
            if foreign:
                return f"it holds files motion did not write ({', '.join(sorted(foreign)[:3])})"
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    kind = os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode
                    if stat.S_ISDIR(kind):
                        return f"it holds a directory {entry}"
                    os.unlink(entry, dir_fd=fd)  # unlinks a symlink itself, never its target
        finally:
            os.close(fd)
        try:
            os.rmdir(name, dir_fd=root_fd)
        except FileNotFoundError:
            return ""
        except OSError as e:  # a file written meanwhile
            return f"cannot remove it: {e.strerror}"
        return None
    finally:
        os.close(root_fd)
