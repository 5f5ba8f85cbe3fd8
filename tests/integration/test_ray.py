"""``executor = 'ray'``: fits computed as Ray tasks on a local Ray head the test starts on loopback,
with motion's fencing, timeout, retry rules and code (DESIGN §2.4, issue 14 item 3)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

from .conftest import state
from .test_reliability import drained, kill, start_worker, wait_until, worker_log

pytestmark = pytest.mark.slow

# Ray resolves 127.0.0.1 to the host's outward address unless told it is a single-host cluster:
# everything here (head, workers, drivers) stays on loopback
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_pids(temp_dir: str) -> list[int]:
    """The processes of the Ray head started with ``temp_dir`` (and only those)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if temp_dir.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """The address of a Ray head on loopback, started for this module and stopped after it."""
    ray_bin = Path(sys.executable).parent / "ray"
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip(
            "Ray cannot start here: it is not installed (make test installs motion_pg[ray])"
        )
    saved = {k: os.environ.get(k) for k in LOOPBACK_ENV}
    os.environ.update(LOOPBACK_ENV)  # the workers (and their fit processes) inherit it
    temp_dir = tempfile.mkdtemp(prefix="mpray")  # short: Ray's socket paths have a length limit
    port = _free_port()
    log = Path(temp_dir) / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            [str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
             "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
             "--temp-dir", temp_dir, "--disable-usage-stats"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    address = f"127.0.0.1:{port}"
    probe = (f"import ray, logging; ray.init(address={address!r}, logging_level=logging.WARNING); "
             "print(ray.get(ray.remote(lambda: 'up').remote()))")  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            ok = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
            if ok.stdout.strip() == "up":
                break
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Ray cannot start on this machine:\n{log.read_text()[-2000:]}"
                            f"\n{ok.stderr[-2000:]}")  # fmt: skip
            time.sleep(1)
        yield address
    finally:
        head.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(30)
        for pid in _session_pids(temp_dir):  # whatever the head left behind, by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def create(conn: psycopg.Connection[Any], address: str, params: str = "") -> None:
    conn.execute("CREATE TABLE tally (id serial PRIMARY KEY, value int NOT NULL)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER tally ON tally USING 'motion_test_apps.ray_fits:RayTally' "
        f"WITH (executor = 'ray', ray_address = '{address}'{', ' + params if params else ''})",
    )


def job(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT state, attempts, errors FROM motion.job_history ORDER BY id"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_fits_run_as_ray_tasks_and_the_worker_commits_them(
    conn: psycopg.Connection[Any], dsn: str, ray_head: str
) -> None:
    create(conn, ray_head, "fit_batch = 2")
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 5) g")
    assert Worker(dsn, poll_interval=0.05).run(once=True) == 3  # 3 runs of at most 2 events
    fitted = state(conn, "tally")
    assert fitted["count"] == 5 and fitted["ids"] == [1, 2, 3, 4, 5]
    assert fitted["where"] == ["ray task"] * 3
    assert os.getpid() not in fitted["pids"]
    # the worker wrote the versions (one per run), with the deployed code's digest
    rows = conn.execute(
        "SELECT v.version, v.code_digest = t.code_digest FROM motion.versions v "
        "JOIN motion.triggers t ON t.name = v.trigger_name ORDER BY v.version"
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4] and all(r[1] for r in rows[1:])
    assert drained(conn, "tally")
    settings = conn.execute("SELECT (settings).executor, (settings).ray_address "
                            "FROM motion.triggers").fetchone()  # fmt: skip
    assert settings == ("ray", ray_head)


def test_a_failing_ray_fit_follows_the_retry_rules(
    conn: psycopg.Connection[Any], dsn: str, ray_head: str
) -> None:
    create(conn, ray_head, "mode = 'fail', max_attempts = 2, retry_delay = 0")
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    assert Worker(dsn, poll_interval=0.05).run(once=True) == 2  # two attempts, then dead
    status, attempts, errors = job(conn)
    assert (status, attempts) == ("dead", 2)
    assert "the fit failed on Ray" in errors[-1]["error"]
    assert "ValueError: fit refused 1 event(s) on purpose" in errors[-1]["error"]
    assert conn.execute("SELECT serving_version FROM motion.triggers").fetchone() == (1,)


def test_a_ray_fit_has_no_database(conn: psycopg.Connection[Any], dsn: str, ray_head: str) -> None:
    create(conn, ray_head, "mode = 'db', max_attempts = 1")
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    status, _, errors = job(conn)
    assert status == "dead"
    assert "ctx.db is not available to a fit run on Ray" in errors[-1]["error"]


def test_a_ray_fit_times_out_and_its_task_is_stopped(
    conn: psycopg.Connection[Any], dsn: str, ray_head: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    create(conn, ray_head, f"mode = 'stall_once', marker = '{marker}', fit_timeout = 10, "
                           "max_attempts = 3, retry_delay = 0")  # fmt: skip
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 3) g")
    Worker(dsn, poll_interval=0.05).run(once=True)  # timed out, then done on a retry
    status, attempts, errors = job(conn)
    assert status == "done" and attempts >= 2
    assert "fit timed out after 10 s (fit_timeout)" in errors[0]["error"]
    # the stalled task's Ray worker ended with the fit process that owned it: it does not run on
    stalled = int(marker.read_text())
    wait_until(lambda: not Path(f"/proc/{stalled}").exists(), timeout=30)
    fitted = state(conn, "tally")
    assert (fitted["count"], fitted["ids"], fitted["where"]) == (3, [1, 2, 3], ["ray task"])


def test_a_killed_ray_worker_hands_the_job_back(
    conn: psycopg.Connection[Any], dsn: str, ray_head: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    create(conn, ray_head, f"mode = 'stall_once', marker = '{marker}', retry_delay = 0.05")
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 4) g")
    worker = start_worker(dsn)
    try:
        wait_until(marker.exists, timeout=90)
        wait_until(lambda: marker.read_text().strip() != "", timeout=5)
        os.kill(int(marker.read_text()), signal.SIGKILL)  # the Ray worker, mid-task
        conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(5, 6) g")
        wait_until(lambda: drained(conn, "tally"), timeout=90)
        rows = conn.execute(
            "SELECT state, attempts, errors FROM motion.job_history ORDER BY id"
        ).fetchall()
        assert [r[0] for r in rows] == ["done"] * 6
        assert [r[1] for r in rows[:4]] == [2] * 4  # the killed attempt counted, then a retry
        assert "the Ray task computing the fit failed" in rows[0][2][0]["error"]
        fitted = state(conn, "tally")
        # nothing lost or doubled (events 5 and 6 may pass the failed run: on_fit_error = 'retry')
        assert (fitted["count"], sorted(fitted["ids"])) == (6, [1, 2, 3, 4, 5, 6])
        assert set(fitted["where"]) == {"ray task"}
    finally:
        kill(worker)
        print(worker_log(worker))


def test_an_unreachable_cluster_fails_the_attempt_with_its_address(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    create(conn, address, "max_attempts = 1")
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    status, _, errors = job(conn)
    assert status == "dead"
    error = errors[-1]["error"]
    assert f"cannot reach the Ray cluster at '{address}' (ray_address)" in error or (
        "Ray is not installed" in error
    )
