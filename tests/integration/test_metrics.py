"""Prometheus metrics scraped over HTTP from a real worker process and from `motion-pg metrics`,
checked against known work; infer latency samples; the worker's JSON log lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

import motion_pg

from .conftest import ROOT

APP = "motion_test_apps.observed:Observed"
NAME = "observed"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    if os.environ.get("SHOW_METRICS"):
        print(text)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"trigger": NAME, **labels}.items())))]


def scrape_until(port: int, done: Callable[[Samples], bool], timeout: float = 60) -> Samples:
    deadline = time.monotonic() + timeout
    last: Samples | str = "no scrape answered"
    while time.monotonic() < deadline:
        try:
            last = scrape(port)
            if done(last):
                return last
        except OSError as e:  # the endpoint is not up yet
            last = repr(e)
        time.sleep(0.2)
    raise AssertionError(f"metrics never reached the expected values; last scrape: {last}")


def cli_process(args: list[str], dsn: str, log: Path) -> subprocess.Popen[bytes]:
    # output to a file: a pipe nobody reads could fill up and block the process
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "motion_pg.cli", *args], cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT, env={**os.environ, "MOTION_DSN": dsn},
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def observed(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER {NAME} ON items USING '{APP}' "
        "WITH (poison = 13, fit_batch = 1, max_attempts = 1)",
    )


def insert_one_per_statement(dsn: str, values: list[int]) -> None:
    """One INSERT statement per value, on one connection (one backend), then flush its samples."""
    with psycopg.connect(dsn, autocommit=True) as c:
        for v in values:
            c.execute("INSERT INTO items (value) VALUES (%s)", [v])
        c.execute("SELECT motion.flush_infer_latency()")


@pytest.fixture
def worker(dsn: str, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port, log = free_port(), tmp_path / "worker.log"
    process = cli_process(
        ["worker", "--metrics-port", str(port), "--poll-interval", "0.1", "--log-format", "json",
         "-v"], dsn, log,
    )  # fmt: skip
    yield port, log
    stop(process)


def test_worker_serves_metrics_matching_known_work(
    conn: psycopg.Connection[Any], dsn: str, observed: None, worker: tuple[int, Path]
) -> None:
    port, _log = worker
    # 11 statements of one row each, on one backend: statements 1 and 11 are sampled
    insert_one_per_statement(dsn, [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 10])
    samples = scrape_until(
        port, lambda s: value(s, "motion_events_fitted_total") == 10
        and value(s, "motion_jobs_dead") == 1,
    )  # fmt: skip
    assert samples[("motion_up", ())] == 1
    assert value(samples, "motion_jobs_pending") == 0
    assert value(samples, "motion_fit_failures_total") == 1
    assert value(samples, "motion_serving_version") == 11  # setup, then one version per event
    assert value(samples, "motion_state_bytes") > 0
    assert value(samples, "motion_infer_errors_total") == 0
    assert value(samples, "motion_fit_duration_seconds_count") == 10
    assert value(samples, "motion_fit_duration_seconds_bucket", le="+Inf") == 10
    assert 0 < value(samples, "motion_fit_duration_seconds_sum") < 60
    assert value(samples, "motion_infer_latency_seconds_count") == 2
    assert value(samples, "motion_infer_latency_seconds_bucket", le="+Inf") == 2
    assert 0 < value(samples, "motion_infer_latency_seconds_sum") < 1
    # the histogram's buckets are cumulative
    buckets = sorted(
        (float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
        if name == "motion_fit_duration_seconds_bucket"
    )  # fmt: skip
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)


def test_standalone_metrics_reads_the_catalog(
    conn: psycopg.Connection[Any], dsn: str, observed: None, tmp_path: Path
) -> None:
    insert_one_per_statement(dsn, [1, 13, 2])
    from motion_pg.worker import Worker

    Worker(dsn, poll_interval=0.05).run(once=True)
    conn.execute("INSERT INTO items (value) VALUES (3), (4), (5)")  # queued, not fitted
    port = free_port()
    process = cli_process(["metrics", "--port", str(port)], dsn, tmp_path / "metrics.log")
    try:
        samples = scrape_until(port, lambda s: ("motion_up", ()) in s)
    finally:
        stop(process)
    assert samples[("motion_up", ())] == 1
    assert value(samples, "motion_jobs_pending") == 3
    assert value(samples, "motion_oldest_pending_age_seconds") >= 0
    assert value(samples, "motion_jobs_dead") == 1
    assert value(samples, "motion_events_fitted_total") == 2
    assert value(samples, "motion_fit_failures_total") == 1
    assert value(samples, "motion_serving_version") == 3
    assert value(samples, "motion_infer_latency_seconds_count") == 1
    assert process.returncode == 0, (tmp_path / "metrics.log").read_text()


def test_metrics_command_refuses_a_port_in_use(dsn: str, observed: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "motion_pg.cli", "metrics", "--port", str(port)],
            cwd=ROOT, env={**os.environ, "MOTION_DSN": dsn}, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr


def latency_rows(conn: psycopg.Connection[Any]) -> list[tuple[int, int]]:
    return [
        (pid, count) for pid, count in conn.execute(
            "SELECT pid, count FROM motion.infer_latency WHERE trigger_name = %s ORDER BY pid",
            [NAME],
        ).fetchall()
    ]  # fmt: skip


def test_a_flush_rolled_back_with_the_user_transaction_is_superseded(
    conn: psycopg.Connection[Any], dsn: str, observed: None
) -> None:
    with psycopg.connect(dsn) as c:  # not autocommit: one transaction
        c.execute("INSERT INTO items (value) VALUES (1)")  # sampled
        c.execute("INSERT INTO items (value) VALUES (2)")  # flushes, inside the transaction
        c.rollback()
        assert latency_rows(conn) == []  # the flush rolled back with the inserts
        c.execute("SELECT motion.flush_infer_latency()")
        c.commit()
        pid = c.info.backend_pid
    # the next flush carries the whole totals, the rolled-back statement's sample included
    assert latency_rows(conn) == [(pid, 1)]


def test_samples_of_exited_backends_are_folded(
    conn: psycopg.Connection[Any], dsn: str, observed: None
) -> None:
    insert_one_per_statement(dsn, [1])
    insert_one_per_statement(dsn, [2])
    wait_for_backends_to_exit(conn)
    assert [c for _, c in latency_rows(conn)] == [1, 1]
    assert conn.execute("SELECT motion.fold_infer_latency()").fetchone() == (2,)
    assert latency_rows(conn) == [(0, 2)]
    insert_one_per_statement(dsn, [3])
    wait_for_backends_to_exit(conn)
    conn.execute("SELECT motion.fold_infer_latency()")
    assert latency_rows(conn) == [(0, 3)]


def wait_for_backends_to_exit(conn: psycopg.Connection[Any]) -> None:
    """Until no backend that wrote infer latency samples is alive."""
    deadline = time.monotonic() + 10
    while conn.execute(
        "SELECT count(*) FROM pg_stat_activity a JOIN motion.infer_latency l ON l.pid = a.pid"
    ).fetchone() != (0,):
        assert time.monotonic() < deadline, "the inserting backends never exited"
        time.sleep(0.05)


def test_worker_log_lines_are_json_with_trigger_and_run(
    conn: psycopg.Connection[Any], dsn: str, observed: None, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "worker.log"
    # two processes: the spawned ones log JSON too
    process = cli_process(
        ["worker", "--metrics-port", str(port), "--poll-interval", "0.1", "--log-format", "json",
         "-v", "--concurrency", "2"], dsn, log,
    )  # fmt: skip
    try:
        insert_one_per_statement(dsn, [1, 13])
        scrape_until(port, lambda s: value(s, "motion_jobs_dead") == 1)
        time.sleep(0.5)  # the failed run's log line is written right after it is recorded
    finally:
        stop(process)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "process"} <= set(r) for r in records)
    assert {r["process"] for r in records} & {"worker-0", "worker-1"}
    fitted = [r for r in records if r["message"].startswith("fitted 1 event(s) of observed")]
    assert fitted and fitted[0]["trigger"] == NAME and fitted[0]["level"] == "info"
    assert isinstance(fitted[0]["run_id"], int) and len(fitted[0]["job_ids"]) == 1
    failed = [r for r in records if "poisoned event" in r["message"]]
    assert failed and failed[0]["level"] == "warning" and failed[0]["trigger"] == NAME
    assert failed[0]["time"].endswith("+00:00")
