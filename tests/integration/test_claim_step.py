"""The worker's claim step (issue 15): the fit-policy gate, the backlog trim and the keyed and
plain claims go to the database in one round trip per claim, and FIT WHEN holds keyed (STATE PER)
triggers as it holds plain ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.pg import connect
from motion_pg.worker import Worker

TABLES = """
CREATE TABLE messages (id serial PRIMARY KEY, user_id int NOT NULL, org text DEFAULT 'a',
                       body text, seen int, note text, key_version int);
CREATE TABLE fit_log (key text, user_ids int[], ids bigint[], started float8, ended float8,
                      pid int);
"""
KEYED = "motion_test_apps.keyed:Summary"


def run_worker(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


def send(conn: psycopg.Connection[Any], *users: int) -> None:
    for user in users:
        conn.execute("INSERT INTO messages (user_id, body) VALUES (%s, 'hello')", [user])


def fitted(conn: psycopg.Connection[Any]) -> list[int]:
    rows = conn.execute("SELECT ids FROM fit_log ORDER BY started").fetchall()
    return sorted(i for (ids,) in rows for i in ids)


def test_fit_when_holds_a_keyed_trigger_until_its_policy_is_met(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER summary ON messages (body) STATE PER (user_id)"
        f" FIT WHEN (COUNT >= 3) USING '{KEYED}'",
    )
    send(conn, 1, 2)
    assert run_worker(dsn) == 0, "FIT WHEN (COUNT >= 3) must hold 2 events of a keyed trigger"
    assert fitted(conn) == []
    send(conn, 1)
    assert run_worker(dsn) >= 1
    assert fitted(conn) == [1, 2, 3]


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements psycopg sends through cursors while the block runs (this process)."""
    sent: list[str] = []
    for cls in (psycopg.Cursor, psycopg.RawCursor):
        if "execute" not in vars(cls):
            continue  # inherited: counted once, by the class that defines it
        original = cls.execute

        def execute(self: Any, query: Any, *args: Any, _original: Any = original,
                    **kwargs: Any) -> Any:  # fmt: skip
            sent.append(str(query))
            return _original(self, query, *args, **kwargs)

        monkeypatch.setattr(cls, "execute", execute)
    yield sent
    monkeypatch.undo()


@pytest.mark.parametrize("kind", ["plain", "keyed"])
def test_a_claim_is_one_round_trip_with_policies_backpressure_and_keys(
    conn: psycopg.Connection[Any], dsn: str, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """With a policy, a backlog setting and a keyed trigger defined, a claim (after the first,
    which also compares the trigger's deployed code) is one statement, and so is a claim that
    finds nothing."""
    conn.execute(TABLES)
    conn.execute("CREATE TABLE other (id serial PRIMARY KEY, body text)")
    state_per = "STATE PER (user_id)" if kind == "keyed" else ""
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages (body) NO INFER {state_per} USING '{KEYED}'"
        " WITH (keep_latest = 100)",
    )
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER held ON other NO INFER FIT WHEN (COUNT >= 1000) USING '{KEYED}'",
    )
    send(conn, 1, 2)
    worker = Worker(dsn, poll_interval=0.05)
    with connect(dsn, autocommit=True) as wconn:
        first = worker.claim(wconn)
        assert first is not None
        psycopg.RawCursor(wconn).execute(
            "UPDATE motion.runs SET state = 'abandoned' WHERE id = $1", [first.run_id]
        )
        wconn.execute("UPDATE motion.jobs SET state = 'pending' WHERE state = 'running'")
        wconn.execute("DELETE FROM motion.key_runs")
        with counted(monkeypatch) as sent:
            claim = worker.claim(wconn)
        assert claim is not None and sorted(e.id for e in claim.events) == [1, 2]
        assert len(sent) == 1, sent
        with counted(monkeypatch) as sent:
            assert worker.claim(wconn) is None
        assert len(sent) == 1, sent
