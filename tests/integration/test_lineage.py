"""Lineage per inferred row: motion.lineage, motion.version_events and `motion-pg lineage`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError
from motion_pg.worker import Worker

from .conftest import motion_pg_cli

APPS = "motion_test_apps.lineage"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_tickets"
ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int, doubled int, label text, tripled int)"
)


def run_worker(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


def lineage(conn: psycopg.Connection[Any], relation: str, key: Any) -> dict[str, Any]:
    row = conn.execute("SELECT motion.lineage(%s, %s::jsonb)", [relation, json.dumps(key)])
    found = row.fetchone()
    assert found is not None
    return dict(found[0])


def of(found: dict[str, Any], trigger: str) -> dict[str, Any]:
    return next(t for t in found["triggers"] if t["trigger"] == trigger)


@pytest.fixture
def tickets(conn: psycopg.Connection[Any]) -> None:
    conn.execute((EXAMPLE / "schema.sql").read_text())
    with (EXAMPLE / "data" / "tickets.csv").open() as f:
        rows = [(r["subject"], r["body"], r["category"]) for r in csv.DictReader(f)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO support.tickets (subject, body, category) VALUES (%s, %s, %s)", rows
        )
    conn.execute((EXAMPLE / "trigger.sql").read_text())


def _insert_ticket(conn: psycopg.Connection[Any], subject: str) -> int:
    row = conn.execute(
        "INSERT INTO support.tickets (subject, body) VALUES (%s, 'please help') RETURNING id",
        [subject],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_lineage_of_the_example_classifier(
    conn: psycopg.Connection[Any], dsn: str, tickets: None
) -> None:
    digest = conn.execute(
        "SELECT code_digest FROM motion.triggers WHERE name = 'ticket_triage'"
    ).fetchone()
    assert digest is not None
    first = _insert_ticket(conn, "cannot log in to my account")
    found = of(lineage(conn, "support.tickets", first), "ticket_triage")
    assert found["stamped"] and found["version"] == 1 and found["route"] == 0
    assert found["code_digest"] == digest[0] and found["deploy"]["action"] == "create"
    assert found["params"]["epochs"] == 20 and found["settings"]["lineage"] is True
    assert set(found["inferred_columns"]) == {"predicted_category", "confidence", "embedding"}
    assert found["login_role"] and found["xact"] > 0
    assert [v["source"] for v in found["chain"]] == ["setup"]
    assert found["changed_since"] == []

    # an agent corrects the category: a change since, of a column infer did not write
    conn.execute("UPDATE support.tickets SET category = 'billing' WHERE id = %s", [first])
    found = of(lineage(conn, "support.tickets", {"id": first}), "ticket_triage")
    assert [c["columns"] for c in found["changed_since"]] == [["category"]]
    assert found["changed_since"][0]["old_values"] == {"category": None}
    assert found["inferred_columns_changed"] == []

    assert run_worker(dsn) == 1  # version 2 learns from the correction
    second = _insert_ticket(conn, "refund for a double charge")
    found = of(lineage(conn, "support.tickets", second), "ticket_triage")
    assert found["version"] == 2
    # the fit route (category) had the ticket's INSERT and the correction
    assert [(v["version"], v["source"], v["events"]) for v in found["chain"]] == [
        (2, "fit", 2), (1, "setup", 0),
    ]  # fmt: skip
    assert found["events"]["count"] == 2
    shown = [(e["row_key"], e["op"], e["relation"]) for e in found["events"]["shown"]]
    assert shown == [
        ({"id": first}, "INSERT", "support.tickets"), ({"id": first}, "UPDATE", "support.tickets"),
    ]  # fmt: skip
    listed = conn.execute(
        "SELECT row_key, op, row_data FROM motion.version_events('ticket_triage', 2)"
    ).fetchall()
    assert [(r[0], r[1]) for r in listed] == [({"id": first}, "INSERT"), ({"id": first}, "UPDATE")]
    assert listed[1][2]["category"] == "billing"
    assert "ticket_triage_lineage" not in listed[1][2]


@pytest.fixture
def doubler(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER dbl ON items (value) USING '{APPS}:Doubler' "
        "WITH (label = 'a', on_error = 'skip')",
    )


def stamp_of(conn: psycopg.Connection[Any], key: int) -> bytes | None:
    row = conn.execute("SELECT dbl_lineage FROM items WHERE id = %s", [key]).fetchone()
    assert row is not None
    return None if row[0] is None else bytes(row[0])


def test_rollback_leaves_no_stamp_and_no_change(
    conn: psycopg.Connection[Any], doubler: None
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    before = stamp_of(conn, 1)
    with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
        conn.execute("INSERT INTO items (value) VALUES (2)")
        conn.execute("UPDATE items SET doubled = 99 WHERE id = 1")
        conn.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back'; END $$")
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)
    assert stamp_of(conn, 1) == before
    assert conn.execute("SELECT count(*) FROM motion.lineage_changes").fetchone() == (0,)


def test_reinferring_update_restamps_and_plain_update_is_a_change(
    conn: psycopg.Connection[Any], doubler: None
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    first = of(lineage(conn, "items", 1), "dbl")
    conn.execute("UPDATE items SET value = 5 WHERE id = 1")  # the route's column: re-inferred
    again = of(lineage(conn, "items", 1), "dbl")
    assert again["xact"] != first["xact"] and again["at"] > first["at"]
    assert again["changed_since"] == []
    assert conn.execute("SELECT doubled FROM items").fetchone() == (10,)

    conn.execute("UPDATE items SET doubled = 7, label = 'b' WHERE id = 1")  # not re-inferred
    changed = of(lineage(conn, "items", 1), "dbl")
    assert changed["xact"] == again["xact"]  # the stamp stays the inference's
    [change] = changed["changed_since"]
    assert change["columns"] == ["doubled", "label"]
    assert change["old_values"] == {"doubled": 10, "label": "a"}
    assert change["inferred_columns"] == ["doubled", "label"]
    assert changed["inferred_columns_changed"] == ["doubled", "label"]
    assert not change["forged_stamp_refused"]


def test_rows_without_stamp_say_why(conn: psycopg.Connection[Any], doubler: None) -> None:
    conn.execute("INSERT INTO items (value) VALUES (NULL), (-1)")
    nothing = of(lineage(conn, "items", 1), "dbl")
    assert nothing["stamped"] and nothing["infer"] == "returned nothing"
    assert nothing["inferred_columns"] == []
    failed = of(lineage(conn, "items", 2), "dbl")
    assert failed["infer"] == "failed (skipped)"
    assert "negative value -1" in failed["infer_errors"][0]["error"]
    motion_pg.execute(conn, "ALTER MOTION TRIGGER dbl DISABLE")
    conn.execute("INSERT INTO items (value) VALUES (3)")
    unstamped = of(lineage(conn, "items", 3), "dbl")
    assert not unstamped["stamped"]
    assert "disabled" in unstamped["why"] and unstamped["now"]
    with pytest.raises(psycopg.Error, match="has no row with key"):
        lineage(conn, "items", 42)


def test_lineage_setting_and_drop(conn: psycopg.Connection[Any], doubler: None) -> None:
    motion_pg.execute(conn, "ALTER MOTION TRIGGER dbl SET (lineage = false)")
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert stamp_of(conn, 1) is None
    motion_pg.execute(conn, "ALTER MOTION TRIGGER dbl SET (lineage = true)")
    conn.execute("INSERT INTO items (value) VALUES (2)")
    assert stamp_of(conn, 2) is not None
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER dbl ON items USING '{APPS}:Doubler'")
    assert stamp_of(conn, 2) is not None  # OR REPLACE keeps the column and its stamps
    conn.execute("INSERT INTO items (value) VALUES (3)")
    assert of(lineage(conn, "items", 3), "dbl")["version"] == 4
    motion_pg.execute(conn, "DROP MOTION TRIGGER dbl")
    columns = conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass "
        "AND attname = 'dbl_lineage' AND NOT attisdropped"
    ).fetchone()
    assert columns == (0,)
    triggers = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass"
    ).fetchone()
    assert triggers == (0,)


def test_lineage_false_at_create_and_user_column_refused(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS + "; ALTER TABLE items ADD COLUMN dbl_lineage text")
    with pytest.raises(DefinitionError, match='items already has a column "dbl_lineage"') as e:
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER dbl ON items USING '{APPS}:Doubler'")
    assert "lineage = false" in (e.value.hint or "")
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER dbl ON items USING '{APPS}:Doubler' WITH (lineage = false)"
    )
    conn.execute("INSERT INTO items (value, dbl_lineage) VALUES (1, 'mine')")
    assert conn.execute("SELECT dbl_lineage FROM items").fetchone() == ("mine",)
    found = of(lineage(conn, "items", 1), "dbl")
    assert found["lineage_column"] is None and "lineage = false" in found["why"]


def test_batch_mode(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER dbl ON items USING '{APPS}:BatchDoubler'")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 3) g")
    conn.execute("INSERT INTO items (value) VALUES (NULL)")
    found = of(lineage(conn, "items", 2), "dbl")
    assert found["stamped"] and found["version"] == 1 and found["inferred_columns"] == ["doubled"]
    assert found["changed_since"] == []  # the write-back is motion's own
    assert of(lineage(conn, "items", 4), "dbl")["infer"] == "returned nothing"
    assert conn.execute("SELECT doubled FROM items WHERE id = 2").fetchone() == (4,)
    assert run_worker(dsn) >= 1  # fit never sees the lineage column (Doubler checks)
    assert conn.execute("SELECT count(*) FROM motion.job_log").fetchone() == (4,)
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert of(lineage(conn, "items", 5), "dbl")["version"] == 2


def test_two_motion_triggers_on_one_relation(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, f"""
        CREATE MOTION TRIGGER dbl ON items (value) USING '{APPS}:Doubler';
        CREATE MOTION TRIGGER tri ON items (value) USING '{APPS}:Tripler';
    """)  # fmt: skip
    conn.execute("INSERT INTO items (value) VALUES (2)")
    assert run_worker(dsn) >= 1
    conn.execute("UPDATE items SET value = 3")  # both re-infer
    found = lineage(conn, "items", {"id": 1})
    assert {t["trigger"]: t["lineage_column"] for t in found["triggers"]} == {
        "dbl": "dbl_lineage", "tri": "tri_lineage",
    }  # fmt: skip
    assert of(found, "dbl")["inferred_columns"] == ["doubled", "label"]
    assert of(found, "tri")["inferred_columns"] == ["tripled"]
    assert of(found, "dbl")["changed_since"] == of(found, "tri")["changed_since"] == []
    assert conn.execute("SELECT doubled, tripled FROM items").fetchone() == (9, 9)


def test_partitioned_relation(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, label text) "
        "PARTITION BY RANGE (id); "
        "CREATE TABLE items_low PARTITION OF items FOR VALUES FROM (0) TO (100)"
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER dbl ON items USING '{APPS}:Doubler'")
    conn.execute("CREATE TABLE items_high PARTITION OF items FOR VALUES FROM (100) TO (200)")
    conn.execute("INSERT INTO items (id, value) VALUES (1, 1), (150, 2)")
    conn.execute("INSERT INTO items_low (id, value) VALUES (2, 3)")  # no parent statement trigger
    stamps = {k: of(lineage(conn, "items", k), "dbl") for k in (1, 150, 2)}
    assert all(s["stamped"] and s["version"] == 1 for s in stamps.values())
    assert stamps[1]["at"] == stamps[150]["at"] and stamps[2]["at"] > stamps[1]["at"]
    assert stamps[2]["xact"] != stamps[1]["xact"]


def test_lineage_cli(conn: psycopg.Connection[Any], dsn: str, doubler: None) -> None:
    conn.execute("INSERT INTO items (value) VALUES (4)")
    conn.execute("UPDATE items SET label = 'z'")
    text = motion_pg_cli("lineage", "items", "1", dsn=dsn).stdout
    assert "dbl" in text and "version 1" in text and "label" in text
    raw = motion_pg_cli("lineage", "items", '{"id": 1}', "--json", dsn=dsn).stdout
    assert of(json.loads(raw), "dbl")["changed_since"][0]["columns"] == ["label"]
    failed = motion_pg_cli("lineage", "items", "9", dsn=dsn, check=False)
    assert failed.returncode != 0 and "has no row with key" in failed.stderr
