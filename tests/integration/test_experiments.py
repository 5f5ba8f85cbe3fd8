"""Live experiments: SHADOW OF, CANARY OF, motion.compare / `motion-pg compare`, PROMOTE."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError
from motion_pg.runtime.experiments import in_canary
from motion_pg.testing import fit_pending

from .conftest import motion_pg_cli, state

APPS = "motion_test_apps.experiments"
ITEMS = "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, label text, score real)"


def create(conn: psycopg.Connection[Any], name: str, cls: str, tail: str = "") -> None:
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER {name} ON items {tail} USING '{APPS}:{cls}'")


@pytest.fixture
def items(conn: psycopg.Connection[Any]) -> None:
    """``items`` served by ``a`` (Baseline); no experiment yet."""
    conn.execute(ITEMS)
    create(conn, "a", "Baseline")


def records(conn: psycopg.Connection[Any], trigger: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT (row_key ->> 'id')::int, outputs, served, error FROM motion.shadow_outputs"
        " WHERE trigger_name = %s ORDER BY id",
        [trigger],
    ).fetchall()


def test_shadow_outputs_are_recorded_never_written(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "SHADOW OF a")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(0, 7) g")
    rows = conn.execute("SELECT id, value, label, score FROM items ORDER BY id").fetchall()
    # the row holds the baseline's outputs only
    assert [(r[2], r[3]) for r in rows] == [("even" if v % 2 == 0 else "odd", 1.0)
                                            for _, v, _, _ in rows]  # fmt: skip
    shadow = records(conn, "b")
    assert [(k, o, s, e) for k, o, s, e in shadow] == [
        (i, {"label": "even" if v % 4 == 0 else "odd", "score": 0.5}, False, None)
        for i, v, _, _ in rows
    ]
    served = records(conn, "a")  # the baseline's outputs, kept for the comparison
    assert [(k, o["label"], s) for k, o, s, _ in served] == [(i, lab, True)
                                                              for i, _, lab, _ in rows]  # fmt: skip


def test_shadow_records_roll_back_with_the_writer(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "SHADOW OF a")
    with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
        conn.execute("INSERT INTO items (value) VALUES (1)")
        conn.execute("SELECT 1 / 0")
    assert records(conn, "b") == [] and records(conn, "a") == []


@pytest.mark.parametrize(
    ("cls", "error"),
    [("Failing", "ValueError: cannot label value 3"), ("BadOutput", "'no_such_column'")],
)
def test_a_failing_shadow_never_fails_the_writer(
    conn: psycopg.Connection[Any], items: None, cls: str, error: str
) -> None:
    create(conn, "c", cls, "SHADOW OF a")
    conn.execute("INSERT INTO items (value) VALUES (3)")
    assert conn.execute("SELECT label FROM items").fetchone() == ("odd",)
    [(_, outputs, served, recorded)] = records(conn, "c")
    assert outputs is None and not served and error in recorded
    report = conn.execute("SELECT motion.compare('a', 'c')").fetchone()[0]  # type: ignore[index]
    assert report["variants"]["c"]["error_rate"] == 1.0
    assert report["variants"]["a"]["error_rate"] == 0.0


def test_the_shadow_fits_on_the_same_events_with_its_own_state(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "SHADOW OF a")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 5) g")
    fit_pending(conn)
    ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id")]
    for name in ("a", "b"):
        got = state(conn, name)
        assert got["count"] == 5 and got["ids"] == ids
    versions = conn.execute(
        "SELECT trigger_name, max(version) FROM motion.versions GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert versions == [("a", 2), ("b", 2)]


def test_canary_serves_a_deterministic_ten_percent_of_keys(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "CANARY OF a (10)")
    conn.execute("INSERT INTO items (value) SELECT 2 FROM generate_series(1, 1000)")
    # value 2: the baseline says even (score 1), the variant odd (score 0.5)
    canary = {r[0] for r in conn.execute("SELECT id FROM items WHERE score = 0.5")}
    salt = conn.execute("SELECT salt FROM motion.experiments WHERE trigger_name = 'b'").fetchone()
    assert salt is not None and len(salt[0]) == 32  # the canary's secret split salt
    expected = {i for i in range(1, 1001) if in_canary({"id": i}, 10, salt[0])}
    assert canary == expected
    assert 70 <= len(canary) <= 130
    assert conn.execute("SELECT count(*) FROM items WHERE label IS NULL").fetchone() == (0,)
    # the baseline's outputs for the canary's rows are kept as shadow records
    shadowed = records(conn, "a")
    assert {k for k, *_ in shadowed} == canary and not any(s for _, _, s, _ in shadowed)
    assert {k for k, *_ in records(conn, "b")} == canary
    # deterministic: the same split in another session, for rows of every key
    with psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True) as other:
        other.execute(
            "INSERT INTO items (id, value) SELECT g, 2 FROM generate_series(1001, 2000) g"
        )
    later = {r[0] for r in conn.execute("SELECT id FROM items WHERE score = 0.5 AND id > 1000")}
    assert later == {i for i in range(1001, 2001) if in_canary({"id": i}, 10, salt[0])}


def test_compare_figures_against_known_data(
    conn: psycopg.Connection[Any], items: None, dsn: str
) -> None:
    conn.execute("ALTER TABLE items ADD COLUMN truth text")
    create(conn, "b", "Variant", "SHADOW OF a")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(0, 7) g")
    # labels arrive later for values 0..3: a is right on all 4, b wrong on value 2
    conn.execute("UPDATE items SET truth = CASE WHEN value % 2 = 0 THEN 'even' ELSE 'odd' END"
                 " WHERE value < 4")  # fmt: skip
    fit_pending(conn)
    report = conn.execute(
        "SELECT motion.compare('a', 'b', label => 'truth', label_output => 'label')"
    ).fetchone()[0]  # type: ignore[index]
    assert report["experiment"]["kind"] == "shadow" and report["experiment"]["baseline"] == "a"
    assert report["rows"] == {"a": 8, "b": 8, "both": 8, "both_inferred": 8}
    label = report["columns"]["label"]
    assert label["compared"] == 8 and label["agreement"] == 0.75  # values 2 and 6 differ
    assert label["confusion"] == {"even": {"even": 2, "odd": 2}, "odd": {"odd": 4}}
    score = report["columns"]["score"]
    assert score["agreement"] == 0.0 and score["mean_abs_diff"] == 0.5
    assert report["label"]["rows"] == 4
    assert report["label"]["a"] == {"correct": 4, "accuracy": 1.0}
    assert report["label"]["b"] == {"correct": 3, "accuracy": 0.75}
    for name in ("a", "b"):
        side = report["variants"][name]
        # the route has no column list: the 4 UPDATEs inferred again (latest record per row counts)
        assert side["infers"] == 12 and side["errors"] == 0 and side["error_rate"] == 0.0
        assert 0 < side["latency_p50_ms"] <= side["latency_p99_ms"]
        assert side["fit_runs"] >= 1 and side["fit_events"] == 12  # 8 inserts, 4 updates
        assert side["serving_version"] >= 2 and side["state_bytes"] > 0
    # the CLI prints the same report
    out = motion_pg_cli("compare", "a", "b", "--label", "truth", "--label-output", "label",
                        "--json", dsn=dsn).stdout  # fmt: skip
    assert json.loads(out)["label"] == report["label"]
    text = motion_pg_cli("compare", "a", "b", "--label", "truth", "--label-output", "label",
                         dsn=dsn).stdout  # fmt: skip
    assert "75.0%" in text and "3/4" in text and "4/4" in text
    # --since: rows inferred after it only
    later = motion_pg_cli("compare", "a", "b", "--since", "2999-01-01", "--json", dsn=dsn).stdout
    assert json.loads(later)["rows"]["both"] == 0
    recent = motion_pg_cli("compare", "a", "b", "--since", "1 hour", "--json", dsn=dsn).stdout
    assert json.loads(recent)["rows"]["both"] == 8


def test_compare_needs_an_experiment_and_a_gradable_label(
    conn: psycopg.Connection[Any], items: None, dsn: str
) -> None:
    create(conn, "other", "Variant")
    with pytest.raises(psycopg.Error, match="run no experiment") as e:
        conn.execute("SELECT motion.compare('a', 'other')")
    assert e.value.sqlstate == "MP100"
    create(conn, "b", "Variant", "SHADOW OF a")
    conn.execute("INSERT INTO items (value) VALUES (1)")
    with pytest.raises(psycopg.Error, match="which output column"):
        conn.execute("SELECT motion.compare('a', 'b', label => 'value')")
    with pytest.raises(psycopg.Error, match='label column "nope"') as e:
        conn.execute("SELECT motion.compare('a', 'b', label => 'nope', label_output => 'label')")
    assert e.value.sqlstate == "MP104"
    failed = motion_pg_cli("compare", "a", "nobody", dsn=dsn, check=False)
    assert failed.returncode != 0 and 'motion trigger "nobody" does not exist' in failed.stderr


def test_promote_makes_the_experiment_serve_and_the_baseline_its_shadow(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "SHADOW OF a")
    conn.execute("INSERT INTO items (value) VALUES (2)")
    with pytest.raises(DefinitionError, match="experiments run against it"):
        motion_pg.execute(conn, "DROP MOTION TRIGGER a")
    with pytest.raises(DefinitionError, match="nothing to promote"):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER a PROMOTE")
    [status] = motion_pg.execute(conn, "ALTER MOTION TRIGGER b PROMOTE")
    assert status == "ALTER MOTION TRIGGER b PROMOTE (a is now its shadow)"
    assert conn.execute(
        "SELECT trigger_name, baseline, kind FROM motion.experiments"
    ).fetchall() == [("a", "b", "shadow")]
    definitions = dict(conn.execute("SELECT name, definition FROM motion.triggers").fetchall())
    assert "SHADOW OF b" in definitions["a"] and "SHADOW" not in definitions["b"]
    conn.execute("INSERT INTO items (value) VALUES (2)")
    assert conn.execute("SELECT label, score FROM items ORDER BY id DESC LIMIT 1").fetchone() == (
        "odd", 0.5,
    )  # fmt: skip
    [*_, (_, outputs, served, _)] = records(conn, "a")
    assert outputs == {"label": "even", "score": 1.0} and not served
    motion_pg.execute(conn, "DROP MOTION TRIGGER a")  # a shadow drops freely
    assert records(conn, "a") == []
    key = conn.execute("INSERT INTO items (value) VALUES (2) RETURNING id, score").fetchone()
    assert key is not None and key[1] == 0.5
    # a shadow had no lineage column; promoted, b stamps the rows it serves
    found = conn.execute(
        "SELECT motion.lineage('items', jsonb_build_object('id', %s::int))", [key[0]]
    ).fetchone()
    assert found is not None
    [stamp] = found[0]["triggers"]
    assert stamp["trigger"] == "b" and stamp["stamped"] and stamp["infer"] == "wrote outputs"


def test_promote_a_canary_serves_every_key(conn: psycopg.Connection[Any], items: None) -> None:
    create(conn, "b", "Variant", "CANARY OF a (10)")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER b PROMOTE")
    conn.execute("INSERT INTO items (value) SELECT 2 FROM generate_series(1, 50)")
    assert conn.execute("SELECT count(*) FROM items WHERE score = 0.5").fetchone() == (50,)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        ("SHADOW OF nobody", 'motion trigger "nobody" does not exist'),
        ("SHADOW OF b", "cannot experiment against itself"),
    ],
)
def test_create_refuses_experiments_that_cannot_run(
    conn: psycopg.Connection[Any], items: None, tail: str, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        create(conn, "b", "Variant", tail)
    assert conn.execute("SELECT count(*) FROM motion.triggers WHERE name = 'b'").fetchone() == (0,)


def test_create_refuses_chains_second_canaries_and_keyless_relations(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "CANARY OF a (10)")
    with pytest.raises(DefinitionError, match="is itself an experiment"):
        create(conn, "c", "Variant", "SHADOW OF b")
    with pytest.raises(DefinitionError, match="already a canary of a"):
        create(conn, "c", "Variant", "CANARY OF a (5)")
    conn.execute("CREATE TABLE keyless (value int NOT NULL, label text, score real)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER k ON keyless USING '{APPS}:Baseline'")
    with pytest.raises(DefinitionError, match="has no primary key"):
        motion_pg.execute(
            conn, f"CREATE MOTION TRIGGER k2 ON keyless SHADOW OF k USING '{APPS}:Variant'"
        )


def test_replacing_an_experiment_without_the_clause_makes_it_serve(
    conn: psycopg.Connection[Any], items: None
) -> None:
    create(conn, "b", "Variant", "SHADOW OF a")
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER b ON items USING '{APPS}:Variant'")
    assert conn.execute("SELECT count(*) FROM motion.experiments").fetchone() == (0,)
    conn.execute("INSERT INTO items (value) VALUES (2)")
    # both serve now: b's row triggers fire after a's (name order), so its outputs stay
    assert conn.execute("SELECT score FROM items").fetchone() == (0.5,)


def test_a_batch_mode_baseline_is_refused_and_a_batch_class_shadows_row_by_row(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "CREATE TABLE nums (id serial PRIMARY KEY, value int, doubled int, seen_version int, batch_size int)"
    )
    batch = "motion_test_apps.batch:BatchCounter"
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER a ON nums USING '{batch}'")
    with pytest.raises(DefinitionError, match="batch mode"):
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER b ON nums SHADOW OF a USING '{batch}'")
    motion_pg.execute(
        conn,
        f"CREATE OR REPLACE MOTION TRIGGER a ON nums USING '{batch}' WITH (infer_mode = 'row')",
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER b ON nums SHADOW OF a USING '{batch}'")
    conn.execute("INSERT INTO nums (value) VALUES (3), (4)")
    got = conn.execute(
        "SELECT trigger_name, outputs ->> 'doubled' FROM motion.shadow_outputs"
        " ORDER BY trigger_name, id"
    ).fetchall()  # one INSERT per trigger and statement: ids follow the triggers, not the rows
    assert got == [("a", "6"), ("a", "8"), ("b", "6"), ("b", "8")]
