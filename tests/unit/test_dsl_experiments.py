"""SHADOW OF / CANARY OF / PROMOTE in the DSL: parse, canonical text, round trip, errors."""

from __future__ import annotations

import pytest

from motion_pg.dsl import generate, parse
from motion_pg.dsl.spec import AlterMotionTrigger, CreateMotionTrigger, Experiment, Promote
from motion_pg.errors import MotionSyntaxError
from motion_pg.runtime.experiments import BUCKETS, bucket, in_canary, jsonable


@pytest.mark.parametrize(
    ("text", "experiment", "canonical"),
    [
        (
            "create motion trigger b on t (x) infer m shadow of a using 'm:C' with (k = 1)",
            Experiment("shadow", "a"),
            "CREATE MOTION TRIGGER b ON t (x) INFER m SHADOW OF a USING 'm:C' WITH (k = 1)",
        ),
        (
            "CREATE MOTION TRIGGER b ON s.t CANARY OF \"A\" (10) USING 'm:C'",
            Experiment("canary", "A", 10.0),
            "CREATE MOTION TRIGGER b ON s.t CANARY OF \"A\" (10) USING 'm:C'",
        ),
        (
            "CREATE MOTION TRIGGER b ON t NO INFER FIT f CANARY OF a (12.5) USING 'm:C'",
            Experiment("canary", "a", 12.5),
            "CREATE MOTION TRIGGER b ON t NO INFER FIT f CANARY OF a (12.5) USING 'm:C'",
        ),
    ],
)
def test_experiment_clauses_parse_and_round_trip(
    text: str, experiment: Experiment, canonical: str
) -> None:
    [statement] = parse(text)
    assert isinstance(statement, CreateMotionTrigger)
    assert statement.experiment == experiment
    assert generate(statement) == canonical
    assert parse(generate(statement)) == [statement]


def test_promote_parses() -> None:
    assert parse("alter motion trigger b promote") == [AlterMotionTrigger("b", Promote())]
    assert generate(AlterMotionTrigger("b", Promote())) == "ALTER MOTION TRIGGER b PROMOTE"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CREATE MOTION TRIGGER b ON t SHADOW a USING 'm:C'", "expected OF after SHADOW"),
        ("CREATE MOTION TRIGGER b ON t CANARY OF a USING 'm:C'", "expected '\\(' and the percent"),
        ("CREATE MOTION TRIGGER b ON t CANARY OF a (0) USING 'm:C'", "more than 0 and less"),
        ("CREATE MOTION TRIGGER b ON t CANARY OF a (100) USING 'm:C'", "more than 0 and less"),
        ("CREATE MOTION TRIGGER b ON t CANARY OF a (x) USING 'm:C'", "a percent between"),
        ("CREATE MOTION TRIGGER b ON t SHADOW OF a CANARY OF a (5) USING 'm:C'", "one experiment"),
        ("CREATE MOTION TRIGGER b ON t SHADOW OF a", "expected USING"),
    ],
)
def test_experiment_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(MotionSyntaxError, match=message):
        parse(text)


def test_canary_buckets_are_stable_and_spread() -> None:
    assert bucket({"id": 1}) == bucket({"id": 1}) and 0 <= bucket({"id": 1}) < BUCKETS
    assert bucket({"a": 1, "b": 2}) == bucket({"b": 2, "a": 1})  # key column order is irrelevant
    share = sum(in_canary({"id": i}, 10) for i in range(10_000)) / 10_000
    assert 0.09 < share < 0.11


def test_jsonable_outputs() -> None:
    import numpy as np

    assert jsonable({"v": np.array([1.0, 2.0]), "n": float("nan"), "b": b"\x01", "x": np.int64(3)}) == {
        "v": [1.0, 2.0], "n": None, "b": "01", "x": 3,
    }  # fmt: skip
