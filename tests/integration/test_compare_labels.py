"""motion.compare's labels over time (issue 11 item 3): with label_at (a column holding when the
label was set) only labels set since the experiment began are graded; without it the report says
what it graded instead."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import UnknownColumn

from .conftest import motion_pg_cli

APPS = "motion_test_apps.experiments"


@pytest.fixture
def labelled(conn: psycopg.Connection[Any]) -> None:
    """8 rows inferred by ``a`` and its shadow ``b``; 4 labelled, 2 of them before the experiment
    began (by their ``truth_at``), 2 after."""
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, label text, score real,"
        " truth text, truth_at timestamptz)"
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER a ON items (value) USING '{APPS}:Baseline'")
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER b ON items (value) SHADOW OF a USING '{APPS}:Variant'"
    )
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(0, 7) g")
    # values 0..3 labelled: a right on all, b wrong on 2; values 0 and 2 labelled long ago
    conn.execute(
        "UPDATE items SET truth = CASE WHEN value % 2 = 0 THEN 'even' ELSE 'odd' END,"
        " truth_at = CASE WHEN value IN (0, 2) THEN now() - interval '1 day' ELSE now() END"
        " WHERE value < 4"
    )


def test_label_at_grades_only_labels_set_since_the_experiment_began(
    conn: psycopg.Connection[Any], labelled: None, dsn: str
) -> None:
    now = conn.execute(
        "SELECT motion.compare('a', 'b', label => 'truth', label_output => 'label')"
    ).fetchone()[0]  # type: ignore[index]
    assert now["label"]["rows"] == 4 and now["label"]["label_at"] is None
    assert now["label"]["labelled"].startswith("truth set now, on rows both sides inferred since")
    since = conn.execute(
        "SELECT motion.compare('a', 'b', label => 'truth', label_output => 'label',"
        " label_at => 'truth_at')"
    ).fetchone()[0]  # type: ignore[index]
    label = since["label"]
    assert label["rows"] == 2 and label["label_at"] == "truth_at"  # values 1 and 3
    assert label["a"] == {"correct": 2, "accuracy": 1.0}
    assert label["b"] == {"correct": 2, "accuracy": 1.0}  # its miss (2) was labelled before
    assert label["labelled"].startswith("truth set since ")
    out = motion_pg_cli("compare", "a", "b", "--label", "truth", "--label-output", "label",
                        "--label-at", "truth_at", "--json", dsn=dsn).stdout  # fmt: skip
    assert json.loads(out)["label"] == label
    text = motion_pg_cli("compare", "a", "b", "--label", "truth", "--label-output", "label",
                         "--label-at", "truth_at", dsn=dsn).stdout  # fmt: skip
    assert "2 rows graded: truth set since" in " ".join(text.split())


def test_an_unknown_label_at_column_is_named(conn: psycopg.Connection[Any], labelled: None) -> None:
    with pytest.raises(psycopg.Error) as e:
        conn.execute(
            "SELECT motion.compare('a', 'b', label => 'truth', label_output => 'label',"
            " label_at => 'nope')"
        )
    assert e.value.sqlstate == UnknownColumn.sqlstate
    assert 'label_at column "nope" of relation public.items does not exist' in str(e.value)
