"""The worker's share of backfill: drive the runs left to it.

``CREATE … WITH (backfill = true)`` and ``ALTER MOTION TRIGGER … BACKFILL`` infer at most
:data:`motion_pg.runtime.backfill.INLINE_ROWS` rows inside their own statement; a larger run is
left in ``motion.backfills`` with ``by_worker`` set, and every worker's loop calls :func:`step`,
which runs its chunks (``motion.backfill_step``, one transaction each) for a bounded slice of time,
so fits are never starved. Each chunk commits with the run's progress, so a worker killed at any
point leaves the run where its last chunk committed, and any worker (or ``motion-pg backfill``)
resumes it there. The run row is taken with ``SKIP LOCKED``: two workers never wait on each other
(a chunk stepped by the CLI at the same moment simply goes first).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query

log = logging.getLogger("motion_pg.worker")

SLICE = 2.0  # seconds of chunks per turn of the worker's loop
IDLE_POLL = 5.0  # seconds between two looks for runs when none was found
CHUNK = 1000  # rows per chunk (one transaction)
BACKOFF = (5.0, 300.0)  # first and longest wait before a failed run is tried again


@dataclass
class _Pace:
    """One worker's pacing: when it last found nothing, and which failed runs wait until when."""

    idle_until: float = 0.0
    failed: dict[int, tuple[float, float]] = field(default_factory=dict)  # run -> (until, wait)


_paces: dict[str, _Pace] = {}


def step(
    conn: psycopg.Connection[Any], worker_id: str, *, budget: float = SLICE, chunk: int = CHUNK
) -> int:
    """Run chunks of the backfill runs left to the worker, for about ``budget`` seconds, on the
    autocommit connection ``conn``; returns the number of chunks that committed. A run whose chunk
    fails is logged and tried again later (backing off), never stopping the loop."""
    pace = _paces.setdefault(worker_id, _Pace())
    now = time.monotonic()
    if now < pace.idle_until:
        return 0
    deadline = now + budget
    done = 0
    while time.monotonic() < deadline:
        waiting = [r for r, (until, _) in pace.failed.items() if until > time.monotonic()]
        run_id: int | None = None
        try:
            with conn.transaction():
                db = PgDatabase(conn)
                found = db.query(query("backfill_worker_next"), [waiting])
                if not found:
                    pace.idle_until = time.monotonic() + IDLE_POLL
                    return done
                run_id = int(found[0]["id"])
                rows = db.query("SELECT motion.backfill_step($1::bigint, $2::integer) AS run",
                                [run_id, chunk])  # fmt: skip
                run = dict(rows[0]["run"])
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            continue  # lost to a concurrent writer: the chunk rolled back whole; go again
        except psycopg.OperationalError:
            raise  # the connection: the worker's loop reconnects
        except psycopg.Error as e:
            if run_id is None:  # the look itself failed (e.g. an older schema): not fits' problem
                log.error("cannot look for backfill runs: %s", str(e).strip())
                pace.idle_until = time.monotonic() + BACKOFF[1]
                return done
            _failed(pace, run_id, e)
            continue
        pace.failed.pop(run_id, None)
        done += 1
        if run["state"] != "running":
            log.info('backfill run %s of motion trigger "%s" %s: %s rows visited, %s inferred',
                     run["id"], run["trigger_name"], run["state"], run["visited"],
                     run["inferred"])  # fmt: skip
    return done


def _failed(pace: _Pace, run_id: int, error: psycopg.Error) -> None:
    _, wait = pace.failed.get(run_id, (0.0, BACKOFF[0] / 2))
    wait = min(wait * 2, BACKOFF[1])
    pace.failed[run_id] = (time.monotonic() + wait, wait)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    log.error("backfill run %s failed (%s); trying again in %.0f s", run_id, message, wait)
