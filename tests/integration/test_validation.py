"""Validation (issue 12 item 4, "Validation"): per-column expectations on inputs and outputs,
checked in infer and in fit, failing with an error that names trigger, relation, row key and
column, or recorded in motion.violations under on_violation = 'record'."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import InvalidSetting
from motion_pg.worker import Worker

from .conftest import motion_pg_cli, state

EXPECT = '{"score": {"min": 0, "max": 1}, "value": {"not_null": true}}'


def scorer(conn: psycopg.Connection[Any], params: str = f"expect = '{EXPECT}'") -> None:
    conn.execute("CREATE TABLE scores (id serial PRIMARY KEY, value int, score float8)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER scorer ON scores (value) USING 'motion_test_apps.flow:Scorer'"
        + (f" WITH ({params})" if params else ""),
    )


def test_an_output_out_of_range_fails_the_statement_naming_everything(
    conn: psycopg.Connection[Any],
) -> None:
    scorer(conn)
    conn.execute("INSERT INTO scores (value) VALUES (5)")
    with pytest.raises(psycopg.Error) as e:
        conn.execute("INSERT INTO scores (id, value) VALUES (7, 15)")
    assert e.value.sqlstate == "MP300"
    assert e.value.diag.message_primary == "plpy.Error: " + (
        'motion trigger "scorer" infer: row (id)=(7) of public.scores violates the expectation '
        'on column "score": 1.5 is above max 1'
    )
    assert "on_violation = 'record'" in (e.value.diag.message_hint or "")
    assert conn.execute("SELECT id, score FROM scores").fetchall() == [(1, 0.5)]


def test_an_input_null_fails_the_statement(conn: psycopg.Connection[Any]) -> None:
    scorer(conn)
    conn.execute("INSERT INTO scores (id, value) VALUES (3, 1)")
    with pytest.raises(psycopg.Error, match=r'column "value": is NULL, expected NOT NULL'):
        conn.execute("UPDATE scores SET value = NULL WHERE id = 3")


def test_record_mode_stores_the_row_and_records_the_violation(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    scorer(conn, f"expect = '{EXPECT}', on_violation = 'record'")
    conn.execute("INSERT INTO scores (value) VALUES (5), (15), (-3), (8)")
    assert [r[0] for r in conn.execute("SELECT score FROM scores ORDER BY id")] == [
        0.5, 1.5, -0.3, 0.8,
    ]  # fmt: skip
    found = conn.execute(
        "SELECT stage, relation, row_key, column_name, value, problem FROM motion.violations"
        " ORDER BY id"
    ).fetchall()
    assert found == [
        ("infer", "public.scores", {"id": 2}, "score", "1.5", "1.5 is above max 1"),
        ("infer", "public.scores", {"id": 3}, "score", "-0.3", "-0.3 is below min 0"),
    ]
    # fit leaves the violating events out (a poisoned stream does not train the model) and
    # records each once more, as stage 'fit'
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert state(conn, "scorer")["seen"] == [5, 8]
    fit_rows = conn.execute(
        "SELECT row_key, column_name FROM motion.violations WHERE stage = 'fit' ORDER BY id"
    ).fetchall()
    assert fit_rows == [({"id": 2}, "score"), ({"id": 3}, "score")]
    status = json.loads(motion_pg_cli("status", "--json", dsn=dsn).stdout)
    assert status[0]["violations"] == 4
    assert "violations" in motion_pg_cli("status", dsn=dsn).stdout


def test_a_rolled_back_write_records_no_violation(conn: psycopg.Connection[Any]) -> None:
    scorer(conn, f"expect = '{EXPECT}', on_violation = 'record'")
    with conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO scores (value) VALUES (15)")
    assert conn.execute("SELECT count(*) FROM motion.violations").fetchone() == (0,)


def test_fit_refuses_an_event_that_breaks_an_expectation(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    scorer(conn, "max_attempts = 1")
    conn.execute("INSERT INTO scores (id, value) VALUES (1, 5), (2, 15)")  # no expectation yet
    motion_pg.execute(conn, f"ALTER MOTION TRIGGER scorer SET (expect = '{EXPECT}')")
    Worker(dsn, poll_interval=0.05).run(once=True)
    row = conn.execute("SELECT state, errors FROM motion.jobs ORDER BY id LIMIT 1").fetchone()
    assert row is not None and row[0] == "dead"
    assert (
        'motion trigger "scorer" fit (event 2): row (id)=(2) of public.scores violates the '
        'expectation on column "score": 1.5 is above max 1'
    ) in row[1][-1]["error"]
    assert state(conn, "scorer")["seen"] == []  # the model was not trained on it


def test_allowed_values(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE labels (id serial PRIMARY KEY, value int, score float8, tag text)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER scorer ON labels (value) USING 'motion_test_apps.flow:Scorer'"
        """ WITH (expect = '{"tag": {"in": ["spam", "ham"]}}')""",
    )
    conn.execute("INSERT INTO labels (value, tag) VALUES (1, 'spam'), (2, NULL)")
    with pytest.raises(psycopg.Error, match=r"'eggs' is not one of the allowed values"):
        conn.execute("INSERT INTO labels (value, tag) VALUES (3, 'eggs')")


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"score": {"minimum": 0}}', "unknown rule 'minimum'"),
        ('{"score": {"min": 2, "max": 1}}', "min 2 is above max 1"),
        ('{"score": {"max": "1"}}', "max must be a number"),
        ('{"tag": {"in": []}}', "in must be a non-empty list"),
        ("[]", "non-empty JSON object"),
    ],
)
def test_bad_expectations_are_refused_at_create(
    conn: psycopg.Connection[Any], expect: str, message: str
) -> None:
    with pytest.raises(InvalidSetting, match=message):
        scorer(conn, f"expect = '{expect}'")


def test_on_violation_is_validated(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(InvalidSetting, match="on_violation must be one of 'raise', 'record'"):
        scorer(conn, "on_violation = 'ignore'")
