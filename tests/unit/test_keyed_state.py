"""STATE PER without a database: the clause's parsing and canonical text, the key's canonical
spelling shared by infer (row values) and fit (jsonb), and the lineage stamp's key version."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest

from motion_pg.dsl import generate, parse
from motion_pg.dsl.spec import CreateMotionTrigger
from motion_pg.errors import InvalidSetting, MotionSyntaxError
from motion_pg.runtime import stamps
from motion_pg.runtime.keyed import canonical, key_json, key_value, restamp
from motion_pg.settings import Settings


def _create(text: str) -> CreateMotionTrigger:
    (statement,) = parse(text)
    assert isinstance(statement, CreateMotionTrigger)
    return statement


def test_state_per_parses_and_round_trips() -> None:
    text = (
        'CREATE MOTION TRIGGER s ON msgs (body) INFER reply ON other STATE PER (user_id, "Org")'
        " USING 'a.b:C' WITH (k = 1)"
    )
    statement = _create(text)
    assert statement.state_per == ("user_id", "Org")
    canonical_text = generate(statement)
    assert "STATE PER (user_id, \"Org\") USING 'a.b:C'" in canonical_text
    assert _create(canonical_text) == statement
    assert _create("CREATE MOTION TRIGGER s ON msgs USING 'a.b:C'").state_per is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CREATE MOTION TRIGGER s ON t STATE (a) USING 'a:B'", "expected"),
        ("CREATE MOTION TRIGGER s ON t STATE PER a USING 'a:B'", r"'\(' after STATE PER"),
        ("CREATE MOTION TRIGGER s ON t STATE PER (a, a) USING 'a:B'", "appears twice"),
        ("CREATE MOTION TRIGGER s ON t STATE PER (a) ON u USING 'a:B'", "expected USING"),
    ],
)
def test_state_per_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(MotionSyntaxError, match=message):
        parse(text)


def test_key_cache_setting() -> None:
    assert Settings().key_cache == 10000
    assert Settings().updated({"key_cache": 50}).key_cache == 50
    with pytest.raises(InvalidSetting, match="key_cache must be a positive integer"):
        Settings().updated({"key_cache": 0})


def test_a_key_has_one_spelling_from_rows_and_from_jsonb() -> None:
    # what infer reads from the row and what fit reads back from jsonb name the same key
    assert key_json([5]) == canonical("[5]") == "[5]"
    assert key_json([5.0]) == canonical("[5]")  # float8 1.0 is 1 in jsonb
    assert key_json([Decimal("2.50")]) == canonical("[2.50]") == "[2.5]"
    assert key_json(["a", None, True]) == canonical('["a", null, true]')
    day = datetime.date(2026, 11, 30)
    assert key_json([day]) == canonical('["2026-11-30"]')
    ident = uuid.UUID(int=7)
    assert key_json([ident]) == canonical(f'["{ident}"]')
    assert key_json([float("nan")]) == "[NaN]"  # not an error


def test_ctx_key_is_the_value_or_a_tuple() -> None:
    assert key_value([3]) == 3
    assert key_value(["a", 3]) == ("a", 3)


def test_restamp_names_the_key_version() -> None:
    head = stamps.head(2, 40, 7, 10, 99, 123)
    out = restamp(head + b"\x01", 12)
    assert out == stamps.head(2, 12, 7, 10, 99, 123) + b"\x01"
