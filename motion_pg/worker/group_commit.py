"""The end of a group of fit calls (:mod:`.grouping`) in one transaction: each slice its own run,
version and job log rows, all committed together.

The claim opened one run for the whole group. Its first slice keeps that run (narrowed to the
slice's events); every later slice gets a run of its own, opened once the previous slice's run is
finished (one running run per trigger), with ids drawn beforehand so that the whole end is one
pipeline: the row lock, then per slice its run, ``fold_commit`` and the fence, then COMMIT. The
fence of the group's run covers every slice: a later slice's run is opened only when this
transaction finished the group's run as this worker's. A failed slice's events stay in a running
run of their own, which the worker fails like any fit (retry with backoff, or dead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from motion_pg.queries import query
from motion_pg.trigger import Event
from motion_pg.worker.committing import Claim, LostRun
from motion_pg.worker.folding import FENCE, Folded, fold_params, raise_fenced


@dataclass
class Slice:
    """A slice fitted and ready to commit: its events and its folded updates."""

    events: list[Event]
    folded: Folded


@dataclass
class Committed:
    """What a group's commit wrote: per slice (version written or None, version folded onto),
    and the run left running for the failed slice's events (None without one)."""

    versions: list[tuple[int | None, int | None]]
    failed_run: int | None


def commit_group(
    conn: psycopg.Connection[Any], claim: Claim, slices: Sequence[Slice], failed: list[Event],
    *, motion_path: str, deployed: str | None, code_digest: str | None,
    known: Mapping[str, bytes],
) -> Committed:  # fmt: skip
    """Commit ``slices`` (at least one) in the caller's open transaction, each as its own run and
    version, and leave the ``failed`` slice's events (if any) in a running run of their own.
    Raises :class:`LostRun` or :class:`~motion_pg.errors.FitError` like
    :func:`~motion_pg.worker.folding.commit_fold`; nothing is written then."""
    extra = len(slices) - 1 + (1 if failed else 0)
    ids: list[int] = []
    if extra:
        with psycopg.RawCursor(conn) as cur:
            cur.execute(query("group_run_ids"), [extra])
            ids = [int(r[0]) for r in cur.fetchall()]
    runs = [claim.run_id, *ids]
    seen = dict(known)  # blobs written by earlier slices are in the database too
    cursors = []
    try:
        with conn.pipeline():
            conn.execute(motion_path)
            psycopg.RawCursor(conn).execute(query("trigger_code_for_update"), [claim.trigger])
            for i, s in enumerate(slices):
                _open_run(conn, claim, runs[i], s.events)
                cur = psycopg.RawCursor(conn)
                cur.execute(query("fold_commit"), fold_params(
                    claim, runs[i], len(s.events), s.folded, code_digest, deployed, seen))  # fmt: skip
                cursors.append(cur)
                psycopg.RawCursor(conn).execute(FENCE, [runs[i], claim.worker_id, claim.trigger,
                                                        deployed])  # fmt: skip
                seen.update(s.folded.digests)
            if failed:
                _open_run(conn, claim, runs[-1], failed)
            conn.execute("COMMIT")
        rows = [c.fetchone() for c in cursors]
    except psycopg.Error as e:
        raise_fenced(claim, e)
    versions: list[tuple[int | None, int | None]] = []
    for row in rows:
        assert row is not None
        _found, _code_ok, fenced, version, parent = row
        if not fenced:  # the fence raises first: a safeguard
            raise LostRun(claim.run_id)
        versions.append((int(version) if version is not None else None, parent))
    return Committed(versions, runs[-1] if failed else None)


def _open_run(conn: psycopg.Connection[Any], claim: Claim, run: int, events: list[Event]) -> None:
    """The run of one slice: the group's own run narrowed, or a new one."""
    ids = [e.id for e in events]
    if run == claim.run_id:
        psycopg.RawCursor(conn).execute(query("narrow_run"), [run, claim.worker_id, ids])
    else:
        psycopg.RawCursor(conn).execute(query("slice_run"), [run, claim.run_id, claim.worker_id,
                                                             ids])  # fmt: skip
