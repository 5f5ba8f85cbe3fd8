"""Reproducibility (issue 10 item 4): ``motion-pg replay TRIGGER --version N`` rebuilds a version
from its parent, its recorded events and its recorded code, and says whether every key's digest
equals the stored one; it refuses what it cannot rebuild faithfully, and never changes anything."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.worker import Worker

from .conftest import ROOT, motion_pg_cli

APPS = "motion_test_apps.replayed"
EXAMPLE = ROOT / "examples" / "support_tickets"
# what a replay must leave byte-identical
TABLES = ["motion.triggers", "motion.versions", "motion.state_entries", "motion.blobs",
          "motion.jobs", "motion.job_log", "motion.runs", "motion.deploys"]  # fmt: skip


def fit_all(dsn: str) -> None:
    Worker(dsn, poll_interval=0.05).run(once=True)


def replay(dsn: str, trigger: str, version: int, *args: str) -> Any:
    return motion_pg_cli("replay", trigger, "--version", str(version), *args, dsn=dsn,
                         check=False)  # fmt: skip


def snapshot(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, str]:
    found = {}
    for table in tables:
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            f" FROM {table} t"
        ).fetchone()
        assert row is not None
        found[table] = f"{row[0]}:{row[1]}"
    return found


def versions(conn: psycopg.Connection[Any], trigger: str) -> dict[int, str]:
    rows = conn.execute(
        "SELECT version, source FROM motion.versions WHERE trigger_name = %s ORDER BY version",
        [trigger],
    ).fetchall()
    return {int(v): str(s) for v, s in rows}


def prune_done_jobs(conn: psycopg.Connection[Any]) -> None:
    """Move every finished job into motion.job_log, as the worker does after prune_after."""
    conn.execute("UPDATE motion.jobs SET finished_at = finished_at - interval '1 hour'")
    PgDatabase(conn).query(query("prune_jobs"), [0])


@pytest.fixture
def tally(conn: psycopg.Connection[Any]) -> str:
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, amount numeric, weight real, meta jsonb);"
        "CREATE TABLE labels (id serial PRIMARY KEY, name text);"
        "CREATE TABLE fit_audit (id serial PRIMARY KEY, events int)"
    )
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER tally ON items NO INFER FIT fit ON labels NO INFER FIT label"
        f" USING '{APPS}:Tally' WITH (scale = 3)",
    )
    return "tally"


def add_items(conn: psycopg.Connection[Any], *amounts: str) -> None:
    for a in amounts:
        conn.execute(
            "INSERT INTO items (amount, weight, meta) VALUES (%s::numeric, 0.1, %s::jsonb)",
            [a, json.dumps({"a": a, "nested": [1.0, None]})],
        )


def test_every_fit_version_replays_identically(
    conn: psycopg.Connection[Any], dsn: str, tally: str
) -> None:
    add_items(conn, "1.10", "2.25")
    conn.execute("INSERT INTO labels (name) VALUES ('x'), ('y'), ('x')")
    add_items(conn, "0.5")
    fit_all(dsn)  # one run: items, labels, items -> three route groups
    prune_done_jobs(conn)  # these events are now read from motion.job_log
    conn.execute("UPDATE items SET amount = 7 WHERE id = 1")
    fit_all(dsn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tally SET (scale = 5)")
    add_items(conn, "10", "NaN")
    conn.execute("INSERT INTO items (amount) VALUES (NULL)")
    fit_all(dsn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tally ROLLBACK TO VERSION 2")
    add_items(conn, "4")
    fit_all(dsn)
    found = versions(conn, tally)
    assert list(found.values()) == ["setup", "fit", "fit", "params", "fit", "rollback", "fit"]
    assert conn.execute("SELECT count(*) FROM fit_audit").fetchone() == (5,)
    before = snapshot(conn, [*TABLES, "items", "labels", "fit_audit"])
    for version, source in found.items():
        result = replay(dsn, tally, version)
        if source == "setup":
            assert result.returncode == 2, result.stdout + result.stderr
            continue
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"version {version} reproduced: 7 keys, digests equal" in result.stdout
    out = json.loads(replay(dsn, tally, 7, "--json").stdout)
    assert out["status"] == "equal" and out["events"] == 1 and out["differences"] == []
    assert set(out["keys"]) == {"count", "total", "weights", "ids", "labels", "onto", "means"}
    # replay wrote nothing: no version, no state, no job, and the fit's ctx.db insert rolled back
    assert snapshot(conn, [*TABLES, "items", "labels", "fit_audit"]) == before


def test_random_fit_reports_the_keys_that_differ(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, amount numeric, weight real, meta jsonb);"
        "CREATE TABLE fit_audit (id serial PRIMARY KEY, events int)"
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER noisy ON items USING '{APPS}:Noisy'")
    add_items(conn, "1", "2")
    fit_all(dsn)
    result = replay(dsn, "noisy", 2)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "differs from its rebuild: 1 of 8 keys" in result.stdout
    assert "changed  noise: stored " in result.stdout
    out = json.loads(replay(dsn, "noisy", 2, "--json").stdout)
    assert out["status"] == "differ"
    [diff] = out["differences"]
    assert diff["key"] == "noise" and diff["change"] == "changed"
    assert diff["stored"]["digest"] != diff["rebuilt"]["digest"]
    assert diff["stored"]["bytes"] == diff["rebuilt"]["bytes"]


def test_equal_values_whose_pickles_differ_are_noted(
    conn: psycopg.Connection[Any], dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER words ON items USING '{APPS}:Words'")
    conn.execute("INSERT INTO items SELECT FROM generate_series(1, 30)")
    monkeypatch.setenv("PYTHONHASHSEED", "1")  # the worker's fit process
    fit_all(dsn)
    monkeypatch.setenv("PYTHONHASHSEED", "2")  # the replay's
    result = replay(dsn, "words", 2)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "changed  words: stored " in result.stdout
    assert "note: words: the values compare equal but their pickles differ" in result.stdout
    monkeypatch.setenv("PYTHONHASHSEED", "1")
    assert replay(dsn, "words", 2).returncode == 0


def test_refuses_unknown_trigger_version_and_setup(dsn: str, tally: str) -> None:
    result = replay(dsn, "nosuch", 1)
    assert result.returncode == 2 and 'motion trigger "nosuch" does not exist' in result.stderr
    result = replay(dsn, tally, 9)
    assert result.returncode == 2
    assert 'motion trigger "tally" has no version 9' in result.stderr
    result = replay(dsn, tally, 1)
    assert result.returncode == 2
    assert 'cannot replay motion trigger "tally" version 1: it was built by setup' in result.stderr
    assert "hint: replay rebuilds fit versions" in result.stderr
    out = json.loads(replay(dsn, tally, 1, "--json").stdout)
    assert out["status"] == "refused" and "built by setup" in out["error"]


def test_refuses_pruned_events_and_parent_state(
    conn: psycopg.Connection[Any], dsn: str, tally: str
) -> None:
    add_items(conn, "1", "2")
    fit_all(dsn)
    add_items(conn, "3")
    fit_all(dsn)
    assert replay(dsn, tally, 2).returncode == 0
    prune_done_jobs(conn)
    assert replay(dsn, tally, 2).returncode == 0
    # retention drops the events' data of version 2's run
    conn.execute(
        "UPDATE motion.job_log SET row_data = NULL WHERE run_id ="
        " (SELECT run_id FROM motion.versions WHERE trigger_name = 'tally' AND version = 2)"
    )
    result = replay(dsn, tally, 2)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "version 2: 2 of the 2 events of its fit run" in result.stderr
    assert "were pruned" in result.stderr and "keep_events" in result.stderr
    # ... or drops the log rows altogether: fewer events than the run fitted
    conn.execute(
        "DELETE FROM motion.job_log WHERE run_id ="
        " (SELECT run_id FROM motion.versions WHERE trigger_name = 'tally' AND version = 3)"
    )
    result = replay(dsn, tally, 3)
    assert result.returncode == 2 and "1 of the 1 events of its fit run" in result.stderr
    # the parent's state is gone (retention removes a version's entries)
    add_items(conn, "4")
    fit_all(dsn)
    assert replay(dsn, tally, 4).returncode == 0
    conn.execute("DELETE FROM motion.state_entries WHERE trigger_name = 'tally' AND version = 3")
    result = replay(dsn, tally, 4)
    assert result.returncode == 2
    assert "the state of its parent version 3 was pruned" in result.stderr
    # a version marked pruned (motion.versions.pruned_at) counts as pruned, entries kept or not
    add_items(conn, "5")
    fit_all(dsn)
    assert replay(dsn, tally, 5).returncode == 0
    conn.execute("UPDATE motion.versions SET pruned_at = now() WHERE version = 4")
    result = replay(dsn, tally, 5)
    assert result.returncode == 2
    assert "the state of its parent version 4 was pruned" in result.stderr
    result = replay(dsn, tally, 4)
    assert result.returncode == 2 and "version 4: its state was pruned" in result.stderr


def test_after_retention_kept_versions_replay_and_pruned_ones_are_refused(
    conn: psycopg.Connection[Any], dsn: str, tally: str
) -> None:
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tally SET (keep_versions = 3, keep_events = 0)")
    for amount in ("1", "2", "3", "4"):
        add_items(conn, amount)
        fit_all(dsn)
    prune_done_jobs(conn)
    conn.execute("SELECT * FROM motion.prune('tally')")
    pruned = conn.execute(
        "SELECT array_agg(version ORDER BY version) FROM motion.versions"
        " WHERE trigger_name = 'tally' AND pruned_at IS NOT NULL"
    ).fetchone()
    assert pruned == ([1, 2, 3],)  # versions 4, 5 and 6 (the serving one) are kept
    assert replay(dsn, tally, 6).returncode == 0
    assert replay(dsn, tally, 5).returncode == 0
    result = replay(dsn, tally, 4)  # kept, but its parent is a tombstone
    assert result.returncode == 2 and "its parent version 3 was pruned" in result.stderr
    result = replay(dsn, tally, 3)
    assert result.returncode == 2 and "version 3: its state was pruned" in result.stderr


TAGGER = """import motion_pg

from . import helpers


class Tagger(motion_pg.Trigger):
    def setup(self, ctx):
        return {"seen": []}

    def fit(self, events, ctx):
        return {"seen": [*ctx.state["seen"], *(helpers.TAG + str(e.row["id"]) for e in events)]}
"""


@pytest.fixture
def app_dir(conn: psycopg.Connection[Any]) -> Iterator[Path]:
    # not under tmp_path: the server's OS user imports it
    root = Path(tempfile.mkdtemp(prefix="motion-replay-"))
    root.chmod(0o755)
    conn.execute(
        "INSERT INTO motion.import_paths (position, path)"
        " SELECT coalesce(max(position), 0) + 1, %s FROM motion.import_paths",
        [str(root)],
    )
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_refuses_when_the_code_on_disk_differs(
    conn: psycopg.Connection[Any], dsn: str, app_dir: Path
) -> None:
    name = f"replay_{uuid.uuid4().hex[:10]}"
    pkg = app_dir / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(TAGGER)
    (pkg / "helpers.py").write_text("TAG = 'v1-'\n")
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER tagger ON items USING '{name}.model:Tagger'")
    conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    fit_all(dsn)
    assert replay(dsn, "tagger", 2).returncode == 0
    recorded = conn.execute(
        "SELECT code_digest FROM motion.versions WHERE trigger_name = 'tagger' AND version = 2"
    ).fetchone()
    assert recorded is not None and recorded[0]
    (pkg / "helpers.py").write_text("TAG = 'v2-'\n")  # an imported module of the app changes
    result = replay(dsn, "tagger", 2)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the code on disk differs from the code that built it" in result.stderr
    assert f"recorded {recorded[0]}, on disk " in result.stderr
    assert f"hint: check out the code of version 2 ({name}.model:Tagger, digest" in result.stderr
    # that code checked out elsewhere, and named with --path
    checkout = app_dir / "checkout"
    shutil.copytree(pkg, checkout / name)
    (checkout / name / "helpers.py").write_text("TAG = 'v1-'\n")
    result = replay(dsn, "tagger", 2, "--path", str(checkout))
    assert result.returncode == 0, result.stdout + result.stderr
    (pkg / "helpers.py").write_text("TAG = 'v1-'\n")  # or checked out again in place
    assert replay(dsn, "tagger", 2).returncode == 0


def test_example_app_classifier_replays_bit_for_bit(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute((EXAMPLE / "schema.sql").read_text())
    with open(EXAMPLE / "data" / "tickets.csv", newline="", encoding="utf-8") as f:
        history = list(csv.DictReader(f))
    with conn.cursor().copy("COPY support.tickets (subject, body, category) FROM STDIN") as copy:
        for t in history:
            copy.write_row([t["subject"], t["body"], t["category"]])
    conn.execute((EXAMPLE / "trigger.sql").read_text())
    with open(EXAMPLE / "data" / "incoming.csv", newline="", encoding="utf-8") as f:
        incoming = list(csv.DictReader(f))
    known = {t["category"] for t in history}
    wrong = []
    for t in incoming:
        row = conn.execute(
            "INSERT INTO support.tickets (subject, body) VALUES (%s, %s)"
            " RETURNING id, predicted_category",
            [t["subject"], t["body"]],
        ).fetchone()
        assert row is not None
        if row[1] != t["true_category"]:
            wrong.append((row[0], t["true_category"]))
    # corrections within known categories: learn updates the classifier online (no ctx.db read)
    assert wrong and {c for _, c in wrong} <= known
    for ticket_id, category in wrong:
        conn.execute(
            "UPDATE support.tickets SET category = %s WHERE id = %s", [category, ticket_id]
        )
    fit_all(dsn)
    assert versions(conn, "ticket_triage") == {1: "setup", 2: "fit"}
    before = snapshot(conn, [*TABLES, "support.tickets"])
    result = replay(dsn, "ticket_triage", 2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version 2 reproduced: 6 keys, digests equal" in result.stdout
    # the route on (category) fires on INSERT too: every new ticket is an event, as is each fix
    events = len(incoming) + len(wrong)
    assert f"fit of run 1: {events} event(s) onto version 1" in result.stdout
    assert snapshot(conn, [*TABLES, "support.tickets"]) == before
