"""The worker's side of shared large states: map the server's cache files when on the same host,
and write the file of each large value a fit writes, before its version commits.

The server reports where this database's cache lives and the directory's identity token
(``motion.state_cache_location()``). A worker uses the directory only when it finds it at that path
with that token, as a real directory private to its owner, and may read it (it runs as the server's
OS user, or as root); a worker on another host, or under another OS user, finds no such directory
and reads states from the database as before. It writes files when it runs as the directory's
owner, or as root (the files given to the owner): :mod:`motion_pg.runtime.state_publish`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motion_pg.runtime import state_publish
from motion_pg.runtime.shared_state import SharedBlobs
from motion_pg.trigger import Database

if TYPE_CHECKING:
    from motion_pg.worker.folding import Folded


class WorkerSource:
    """The server's cache as this worker sees it, resolved on first use (once per connection)."""

    def get(self, db: Database) -> SharedBlobs | None:
        """The cache, or None: another host, another OS user, or the cache is off."""
        return state_publish.cache_of(db)


def publish(db: Database, trigger: str, folded: Folded) -> None:
    """Write the cache files of the large values a fit returned (``folded``), before the fit's
    version commits, so its first infer maps them; a value with a file already is skipped."""
    shared = state_publish.cache_of(db)
    if shared is None or not shared.writable:
        return
    for key, data in folded.pickled.items():
        if len(data) >= shared.min_bytes:
            state_publish.write(shared, folded.digests[key], data, folded.copies[key],
                                f"trigger {trigger!r}, value {key!r}")  # fmt: skip
