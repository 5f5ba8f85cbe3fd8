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


def test_the_words_variant_runs_as_a_shadow_and_is_compared_against_the_agents(
    motion_conn: psycopg.Connection[Any],
) -> None:
    _deploy(motion_conn)
    motion_conn.execute((APP / "variant.sql").read_text())
    with open(APP / "data" / "heldout.csv", newline="", encoding="utf-8") as f:
        tickets = list(csv.DictReader(f))
    ids = [
        row[0]
        for row in motion_conn.execute(
            "INSERT INTO support.tickets (subject, body) "
            "SELECT * FROM unnest(%s::text[], %s::text[]) RETURNING id",
            [[t["subject"] for t in tickets], [t["body"] for t in tickets]],
        )
    ]
    # the row holds the serving trigger's prediction; the variant's is a shadow record
    shadow = motion_conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE outputs ->> 'predicted_category' IS NOT NULL)"
        " FROM motion.shadow_outputs WHERE trigger_name = 'ticket_triage_words' AND NOT served"
    ).fetchone()
    assert shadow == (len(tickets), len(tickets))
    # the agents label every ticket; both triggers learn from the labels, each with its own state
    for ticket_id, t in zip(ids, tickets, strict=True):
        motion_conn.execute(
            "UPDATE support.tickets SET category = %s WHERE id = %s",
            [t["true_category"], ticket_id],
        )
    fit_pending(motion_conn)
    assert_version(motion_conn, "ticket_triage", 2)
    assert_version(motion_conn, "ticket_triage_words", 2)
    row = motion_conn.execute(
        "SELECT motion.compare('ticket_triage', 'ticket_triage_words', label => 'category')"
    ).fetchone()
    assert row is not None
    report = row[0]
    assert report["rows"]["both"] == len(tickets)
    assert report["label"]["output"] == "predicted_category"
    assert report["label"]["rows"] == len(tickets)
    for name in ("ticket_triage", "ticket_triage_words"):
        assert 0 < report["label"][name]["correct"] <= len(tickets)
        assert report["variants"][name]["error_rate"] == 0.0
    assert set(report["columns"]["predicted_category"]["confusion"]) <= CATEGORIES
