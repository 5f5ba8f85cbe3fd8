"""``ALTER MOTION TRIGGER name BACKFILL [ALL | STALE] [WHERE condition]`` and the checks of a
backfill condition (no database)."""

from __future__ import annotations

import pytest

from motion_pg.dsl import generate, parse
from motion_pg.dsl.spec import AlterMotionTrigger, Backfill
from motion_pg.errors import MotionSyntaxError
from motion_pg.runtime.backfill import check_condition
from motion_pg.settings import Settings


@pytest.mark.parametrize(
    ("text", "action", "canonical"),
    [
        ("alter motion trigger t backfill", Backfill(), "ALTER MOTION TRIGGER t BACKFILL ALL"),
        ("ALTER MOTION TRIGGER t BACKFILL ALL", Backfill(), "ALTER MOTION TRIGGER t BACKFILL ALL"),
        ("alter motion trigger t backfill stale", Backfill(stale=True),
         "ALTER MOTION TRIGGER t BACKFILL STALE"),
        ("ALTER MOTION TRIGGER t BACKFILL STALE WHERE created_at > now() - interval '1 day';",
         Backfill(stale=True, where="created_at > now() - interval '1 day'"),
         "ALTER MOTION TRIGGER t BACKFILL STALE WHERE created_at > now() - interval '1 day'"),
        ('ALTER MOTION TRIGGER t BACKFILL WHERE "Kind" = $$a)b$$ AND (id < 10)',
         Backfill(where='"Kind" = $$a)b$$ AND (id < 10)'),
         'ALTER MOTION TRIGGER t BACKFILL ALL WHERE "Kind" = $$a)b$$ AND (id < 10)'),
    ],
)  # fmt: skip
def test_parse_and_generate(text: str, action: Backfill, canonical: str) -> None:
    [statement] = parse(text)
    assert statement == AlterMotionTrigger("t", action)
    assert generate(statement) == canonical
    assert parse(canonical) == [statement]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ALTER MOTION TRIGGER t BACKFILL WHERE", "expected a condition after WHERE"),
        ("ALTER MOTION TRIGGER t BACKFILL STALE ALL", "expected ALL, STALE, WHERE"),
        ("ALTER MOTION TRIGGER t BACKFILL WHERE a) OR (b", "unbalanced ')'"),
        ("ALTER MOTION TRIGGER t BACKFILL WHERE (a OR b", "unbalanced '('"),
        ("ALTER MOTION TRIGGER t BACKFILL EVERYTHING", "expected ALL, STALE, WHERE"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(MotionSyntaxError) as caught:
        parse(text)
    assert caught.value.message.startswith(message)


def test_statements_after_the_condition_are_separate() -> None:
    first, second = parse(
        "ALTER MOTION TRIGGER t BACKFILL WHERE id = 1; ALTER MOTION TRIGGER t REFIT"
    )
    assert first == AlterMotionTrigger("t", Backfill(where="id = 1"))
    assert generate(second) == "ALTER MOTION TRIGGER t REFIT"


@pytest.mark.parametrize(
    "condition",
    ["true) OR (true", "true; DELETE FROM items", "a = 1 /* ) */", "(a", ""],
)
def test_check_condition_refuses(condition: str) -> None:
    if not condition:
        assert check_condition(condition) is None
        return
    with pytest.raises(MotionSyntaxError):
        check_condition(condition)


def test_check_condition_keeps_the_text() -> None:
    assert check_condition("  value % 10 = 0 -- tens\n") == "value % 10 = 0"
    assert check_condition(None) is None


def test_backfill_setting() -> None:
    assert Settings().backfill is False
    assert Settings().updated({"backfill": True}).backfill is True
    with pytest.raises(Exception, match="true or false"):
        Settings().updated({"backfill": "yes"})
