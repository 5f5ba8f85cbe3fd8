"""The sweep of dropped databases' cache directories (runtime/state_dropped.py) removes only what
motion made: never a symlink's target, a directory without motion's token, one holding other files,
or one another user owns."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import psycopg

import motion_pg

TABLE = "CREATE TABLE items (id serial PRIMARY KEY, x int NOT NULL, y float8, mapped boolean)"


def _root(conn: psycopg.Connection[Any]) -> Path:
    conn.execute(TABLE)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER emb ON items "
                      "USING 'motion_test_apps.shared:Embeddings' WITH (mb = 2)")  # fmt: skip
    row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    assert row is not None
    return Path(row[0]) / "motion_state"


def _planted(path: Path, owner: int, *names: str) -> Path:
    path.mkdir(mode=0o700)
    for name in names:
        (path / name).write_text("x")
    for p in (path, *path.iterdir()):
        os.chown(p, owner, -1, follow_symlinks=False)
    return path


def test_the_sweep_removes_only_what_motion_made(conn: psycopg.Connection[Any]) -> None:
    root = _root(conn)
    owner = root.stat().st_uid
    gone = 4_000_000_000  # oids no database has
    victim = _planted(root.parent / "motion_victim", owner, "identity", "keep.mps")
    try:
        link = root / str(gone + 1)
        link.symlink_to(victim)
        tokenless = _planted(root / str(gone + 2), owner, "a.mps")
        foreign = _planted(root / str(gone + 3), owner, "identity", "a.mps", "notes.txt")
        others = _planted(root / str(gone + 4), owner + 1, "identity", "a.mps")
        ours = _planted(root / str(gone + 5), owner, "identity", "a.mps", ".a.1.tmp")
        target = victim / "keep.mps"
        (ours / "b.mps").symlink_to(target)
        conn.execute("SELECT * FROM motion.prune()")
        assert not ours.exists()  # motion's: removed, its symlink unlinked, not followed
        assert target.read_text() == "x"
        assert link.is_symlink() and sorted(p.name for p in victim.iterdir()) == [
            "identity",
            "keep.mps",
        ]
        assert (tokenless / "a.mps").exists()
        assert (foreign / "notes.txt").exists() and (foreign / "a.mps").exists()
        assert (others / "a.mps").exists()
    finally:
        (root / str(gone + 1)).unlink(missing_ok=True)
        for d in [victim, *(root / str(gone + n) for n in (2, 3, 4))]:
            if d.is_dir():
                shutil.rmtree(d)
