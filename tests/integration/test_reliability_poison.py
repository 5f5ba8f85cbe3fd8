"""The reliability suite's "poison trigger" scenario: triggers whose fits crash their process,
return a state that cannot load, or return bad updates, next to healthy triggers under concurrent
writers and two workers. The healthy ones fit every event exactly once; the poisoned ones end dead
with their tracebacks; no worker dies."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import MotionError

from .test_reliability import check, create_tally, drained, start_worker, wait_until, worker_log
from .test_reliability import workers as workers  # the fixture

pytestmark = pytest.mark.chaos

HEALTHY = ["healthy_a", "healthy_b"]
POISONED = {
    "crashing": ("motion_test_apps.chaos:Crashing", "crash = 'exit'", "exited with code 3"),
    "unloadable": ("motion_test_apps.integrity:Unloadable", "", "cannot be unpickled"),
    "bad_keys": ("motion_test_apps.integrity:BadKeys", "", "state key 1 (int)"),
}


def _queue(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    jobs = conn.execute(
        "SELECT trigger_name, state, count(*), max(attempts), max(run_at) - now() FROM motion.jobs"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    runs = conn.execute(
        "SELECT id, trigger_name, worker_id, lease_until - now() FROM motion.runs"
        " WHERE state = 'running'"
    ).fetchall()
    activity = conn.execute(
        "SELECT application_name, state, wait_event_type, wait_event, left(query, 80)"
        " FROM pg_stat_activity WHERE application_name LIKE 'motion-pg%'"
    ).fetchall()
    return [*jobs, *runs, *activity]


def test_poison_triggers_never_stop_the_healthy_ones(
    conn: psycopg.Connection[Any],
    dsn: str,
    workers: list[subprocess.Popen[str]],
) -> None:
    for name in HEALTHY:
        create_tally(conn, name, "fit_batch = 5")
    for name, (cls, params, _) in POISONED.items():
        conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, value int NOT NULL)")
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER {name} ON {name} USING '{cls}'"
            f" WITH (max_attempts = 3, retry_delay = 0.05, fit_batch = 1"
            f"{', ' + params if params else ''})",
        )
    # bad params never get as far as the worker
    with pytest.raises(MotionError, match="fit_batch must be a positive integer"):
        motion_pg.execute(
            conn, "CREATE MOTION TRIGGER bad_params ON healthy_a USING "
            "'motion_test_apps.chaos:Tally' WITH (fit_batch = 'abc')",
        )  # fmt: skip
    workers.extend(start_worker(dsn) for _ in range(2))
    tables = HEALTHY + list(POISONED)

    def writer(seed: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as w:
            for i in range(40):
                name = tables[(seed + i) % len(tables)]
                with w.transaction(force_rollback=(i % 9 == 0)):
                    w.execute(
                        f"INSERT INTO {name} (value) SELECT %s + g FROM generate_series(1, 2) g",
                        [seed * 100000 + i * 10],
                    )

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in tables:
        try:
            # 126 crashing calls, each a new fit process: ~1.5 s apiece at load 12 (the queue
            # moved steadily and ran out of 120 s)
            wait_until(lambda n=name: drained(conn, n), timeout=600)
        except AssertionError:
            logs = "\n".join(worker_log(w)[-3000:] for w in workers)
            raise AssertionError(f"{name} did not drain: {_queue(conn)}\n{logs}") from None
    for name in HEALTHY:
        check(conn, name, f"poison triggers next to healthy ones, 2 workers ({name})", [],
              writers=3)  # fmt: skip
    for name, (_, _, error) in POISONED.items():
        jobs = conn.execute(
            "SELECT state, attempts, errors -> -1 ->> 'error' FROM motion.jobs"
            " WHERE trigger_name = %s",
            [name],
        ).fetchall()
        assert jobs, name
        for state, attempts, last in jobs:
            assert (state, attempts) == ("dead", 3), (name, state, attempts)
            assert error in last, (name, last)
            if name != "crashing":  # the others carry the fit's traceback
                assert "Traceback" in last and f'motion trigger "{name}"' in last
        serving = conn.execute(
            "SELECT serving_version FROM motion.triggers WHERE name = %s", [name]
        ).fetchone()
        assert serving == (1,), name  # never served a poisoned state
    assert [p.poll() for p in workers] == [None, None]  # no worker died
