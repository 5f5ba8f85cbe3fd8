"""The support-tickets application on a real PostgreSQL, tested with motion_pg's test kit.

``motion_conn`` is a fresh database with motion installed; the server imports ``support_tickets``
from the directory above this package (``motion_pg_paths``).
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

import psycopg

from motion_pg.testing import assert_version, fit_pending

APP = Path(__file__).resolve().parents[1]
CATEGORIES = {"account", "billing", "bug", "feature_request", "shipping"}


def _deploy(conn: psycopg.Connection[Any]) -> None:
    """The schema, the labelled history and the trigger, as the demo deploys them."""
    conn.execute((APP / "schema.sql").read_text())
    with open(APP / "data" / "tickets.csv", newline="", encoding="utf-8") as f:
        rows = [(r["subject"], r["body"], r["category"]) for r in csv.DictReader(f)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO support.tickets (subject, body, category) VALUES (%s, %s, %s)", rows
        )
    conn.execute((APP / "trigger.sql").read_text())


def _corrections(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT b.data FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id"
        " JOIN motion.triggers t ON t.name = e.trigger_name AND t.serving_version = e.version"
        " WHERE e.trigger_name = 'ticket_triage' AND e.key = 'corrections'"
    ).fetchone()
    assert row is not None
    return int(pickle.loads(row[0]))


def test_triage_in_the_insert_then_learn_from_a_correction(
    motion_conn: psycopg.Connection[Any],
) -> None:
    _deploy(motion_conn)
    assert_version(motion_conn, "ticket_triage", 1)

    ticket = motion_conn.execute(
        "INSERT INTO support.tickets (subject, body) VALUES (%s, %s)"
        " RETURNING id, predicted_category, confidence, embedding IS NOT NULL",
        ["Charged twice", "I see two payments on my card this month, please refund one."],
    ).fetchone()
    assert ticket is not None
    ticket_id, predicted, confidence, embedded = ticket
    assert predicted in CATEGORIES and 0 < confidence <= 1 and embedded

    # an agent sets the category: a fit event, fitted now rather than by a running worker
    motion_conn.execute(
        "UPDATE support.tickets SET category = 'billing' WHERE id = %s", [ticket_id]
    )
    fit_pending(motion_conn, "ticket_triage")
    assert_version(motion_conn, "ticket_triage", 2)
    assert _corrections(motion_conn) == 1
