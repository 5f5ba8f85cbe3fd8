"""The command line for people and scripts: --json parses, tables keep whole names at 80 columns
in a pipe, jobs list is newest first with filters, and worker --once shows progress only on a TTY."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

from .conftest import ROOT

APP = "motion_test_apps.observed:Observed"
# long enough that an 80-column table used to cut them ("a_t…")
NAME = "a_trigger_with_a_rather_long_descriptive_name"
RELATION = "support_tickets_with_a_long_table_name"


def cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    """``motion-pg ARGS`` with its output in a pipe, as a script or `| cat` sees it."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=120, env={**env, "MOTION_DSN": dsn},
    )  # fmt: skip
    assert result.returncode == 0, f"motion-pg {' '.join(args)}: {result.stderr}"
    return result


def assert_readable(output: str, *names: str, fits: bool = True) -> None:
    lines = output.splitlines()
    assert not fits or all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert "…" not in output, output
    for name in names:
        assert any(name in line for line in lines), f"{name} is not whole in:\n{output}"


@pytest.fixture
def tickets(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(
        f"CREATE TABLE {RELATION} (id serial PRIMARY KEY, value int NOT NULL, doubled int)"
    )
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER {NAME} ON {RELATION} USING '{APP}' "
        "WITH (poison = 13, fit_batch = 1, max_attempts = 1, note = 'a user param')",
    )
    conn.execute(f"INSERT INTO {RELATION} (value) VALUES (1), (13), (2)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    conn.execute(f"INSERT INTO {RELATION} (value) VALUES (3), (4)")  # pending


def test_status_in_a_pipe_keeps_names_and_json_parses(dsn: str, tickets: None) -> None:
    assert_readable(cli("status", dsn=dsn).stdout, NAME, APP)
    [row] = json.loads(cli("status", "--json", dsn=dsn).stdout)
    assert row["trigger"] == NAME and row["class"] == APP
    assert (row["pending"], row["dead"], row["serving_version"]) == (2, 1, 3)
    assert row["params"] == {"poison": 13, "note": "a user param"}
    assert row["settings"]["max_attempts"] == 1 and row["settings"]["fit_batch"] == 1
    assert row["code_digest"] and row["code_warning"] is None


def test_jobs_list_newest_first_with_filters_and_json(
    conn: psycopg.Connection[Any], dsn: str, tickets: None
) -> None:
    ids = [r[0] for r in conn.execute("SELECT id FROM motion.job_history ORDER BY id DESC")]
    listed = json.loads(cli("jobs", "list", "--json", dsn=dsn).stdout)
    assert [j["id"] for j in listed] == ids and len(ids) == 5
    assert [j["id"] for j in json.loads(cli("jobs", "list", "--json", "--limit", "2",
                                            dsn=dsn).stdout)] == ids[:2]  # fmt: skip
    pending = json.loads(cli("jobs", "list", "--json", "--state", "pending", dsn=dsn).stdout)
    assert [j["state"] for j in pending] == ["pending", "pending"]
    assert json.loads(cli("jobs", "list", "--json", "--trigger", "other", dsn=dsn).stdout) == []
    [dead] = json.loads(cli("jobs", "list", "--json", "--state", "dead", dsn=dsn).stdout)
    assert dead["trigger_name"] == NAME and "poisoned event" in dead["last_error"]
    table = cli("jobs", "list", dsn=dsn).stdout
    assert_readable(table, NAME, RELATION, "ValueError: poisoned event")
    # a table row starts with its id; a record (too wide for a table) with "id N"
    listed_ids = [int(m[1]) for m in re.finditer(r"^\s*(?:id )?(\d+)\b", table, re.MULTILINE)]
    assert listed_ids == ids  # newest first
    if os.environ.get("SHOW_CLI"):
        print(table, cli("status", dsn=dsn).stdout, sep="\n")

    shown = json.loads(cli("jobs", "show", str(dead["id"]), "--json", dsn=dsn).stdout)
    assert shown["state"] == "dead" and shown["row_data"]["value"] == 13
    assert "Traceback" in shown["errors"][0]["error"]
    # tracebacks keep their lines (they are copied whole), names too
    assert_readable(
        cli("jobs", "show", str(dead["id"]), dsn=dsn).stdout, NAME, RELATION, fits=False
    )


def test_state_show_in_a_pipe_and_json(dsn: str, tickets: None) -> None:
    assert_readable(cli("state", "show", NAME, dsn=dsn).stdout, NAME, "count")
    rendered = json.loads(cli("state", "show", NAME, "--json", dsn=dsn).stdout)
    assert rendered["keys"] == {"count": 2} and rendered["version"] == 3


def test_worker_once_shows_progress_only_on_a_terminal(
    conn: psycopg.Connection[Any], dsn: str, tickets: None
) -> None:
    conn.execute(f"INSERT INTO {RELATION} (value) SELECT 100 + g FROM generate_series(1, 60) g")
    piped = cli("worker", "--once", dsn=dsn)
    assert "events/s" not in piped.stdout + piped.stderr
    assert "worker: 62 fit run(s)" in piped.stdout

    conn.execute(f"INSERT INTO {RELATION} (value) SELECT 200 + g FROM generate_series(1, 60) g")
    output = run_on_a_terminal(["worker", "--once"], dsn)
    assert "fitting" in output and "60/60" in output and "events/s" in output, output
    assert "ETA" in output
    assert conn.execute("SELECT count(*) FROM motion.jobs WHERE state = 'pending'").fetchone() == (
        0,
    )


def run_on_a_terminal(args: list[str], dsn: str) -> str:
    """Run ``motion-pg ARGS`` with a pseudo-terminal as its stdout and stderr; its output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "MOTION_DSN": dsn, "TERM": "xterm", "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "motion_pg.cli", *args], cwd=ROOT, stdin=follower,
        stdout=follower, stderr=follower, env=env, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: every process holding it exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=30) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")
