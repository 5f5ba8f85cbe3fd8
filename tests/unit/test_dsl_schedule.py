"""ON SCHEDULE 'cron expression' [FIT method]: parsing, canonical text, errors; cron validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from motion_pg import cron
from motion_pg.dsl import generate, parse
from motion_pg.dsl.spec import CreateMotionTrigger, RelationName, Route, Schedule, Statement
from motion_pg.errors import DefinitionError, MotionSyntaxError

ITEMS = RelationName("items")

# (text, the statement it means, its canonical text)
CASES: list[tuple[str, Statement, str]] = [
    (  # a trigger with only a schedule
        "create motion trigger tick on schedule '*/5 * * * *' using 'pkg.mod:Cls'",
        CreateMotionTrigger("tick", (), "pkg.mod:Cls", schedules=(Schedule("*/5 * * * *"),)),
        "CREATE MOTION TRIGGER tick ON SCHEDULE '*/5 * * * *' USING 'pkg.mod:Cls'",
    ),
    (  # schedules come after the relation routes in canonical text, wherever they were written
        "CREATE MOTION TRIGGER t ON SCHEDULE $$0 3 * * *$$ FIT Nightly ON items (a) INFER p"
        " ON Schedule '* * * * * *' fit fit USING 'a:B' WITH (k = 1)",
        CreateMotionTrigger(
            "t",
            (Route(ITEMS, ("a",), infer="p"),),
            "a:B",
            {"k": 1},
            schedules=(Schedule("0 3 * * *", "Nightly"), Schedule("* * * * * *", "fit")),
        ),
        "CREATE MOTION TRIGGER t ON items (a) INFER p ON SCHEDULE '0 3 * * *' FIT Nightly"
        " ON SCHEDULE '* * * * * *' FIT fit USING 'a:B' WITH (k = 1)",
    ),
    (  # a relation named schedule is still a relation: no string follows it
        'CREATE MOTION TRIGGER t ON schedule (a) ON schedule.x ON schedule FIT f ON "SCHEDULE"'
        " USING 'a:B'",
        CreateMotionTrigger(
            "t",
            (
                Route(RelationName("schedule"), ("a",)),
                Route(RelationName("x", "schedule")),
                Route(RelationName("schedule"), fit="f"),
                Route(RelationName("SCHEDULE")),
            ),
            "a:B",
        ),
        'CREATE MOTION TRIGGER t ON schedule (a) ON schedule.x ON schedule FIT f ON "SCHEDULE"'
        " USING 'a:B'",
    ),
    (  # quotes inside the expression survive
        "CREATE MOTION TRIGGER t ON SCHEDULE 'it''s' USING 'a:B'",
        CreateMotionTrigger("t", (), "a:B", schedules=(Schedule("it's"),)),
        "CREATE MOTION TRIGGER t ON SCHEDULE 'it''s' USING 'a:B'",
    ),
]


@pytest.mark.parametrize(("text", "statement", "canonical"), CASES)
def test_meaning_and_canonical_text(text: str, statement: Statement, canonical: str) -> None:
    assert parse(text) == [statement]
    assert generate(statement) == canonical
    assert parse(canonical) == [statement]


def test_generate_refuses_a_trigger_without_routes_or_schedules() -> None:
    with pytest.raises(ValueError, match="at least one route or schedule"):
        generate(CreateMotionTrigger("t", (), "a:B"))


# (text, message start, line, col, token)
ERRORS: list[tuple[str, str, int, int, str | None]] = [
    (
        "CREATE MOTION TRIGGER t ON SCHEDULE '* * * * *' INFER p USING 'a:B'",
        "a scheduled route has no row to infer",
        1, 49, "INFER",
    ),
    (
        "CREATE MOTION TRIGGER t ON SCHEDULE '* * * * *' NO FIT USING 'a:B'",
        "a scheduled route always fits",
        1, 49, "NO",
    ),
    (
        "CREATE MOTION TRIGGER t ON SCHEDULE '* * * * *' FIT a FIT b USING 'a:B'",
        "FIT given twice in one route",
        1, 55, "FIT",
    ),
    (
        "CREATE MOTION TRIGGER t ON SCHEDULE 5 USING 'a:B'",
        "expected a cron expression string after ON SCHEDULE",
        1, 37, "5",
    ),
    (
        "CREATE MOTION TRIGGER t ON SCHEDULE '* * * * *' hourly USING 'a:B'",
        "expected FIT, ON or USING",
        1, 49, "hourly",
    ),
    (
        "CREATE MOTION TRIGGER t ON SCHEDULE '* * * * *' FIT f",
        "expected ON or USING, found end of statement",
        1, 54, None,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message", "line", "col", "token"), ERRORS)
def test_errors_point_at_the_offending_token(
    text: str, message: str, line: int, col: int, token: str | None
) -> None:
    with pytest.raises(MotionSyntaxError) as info:
        parse(text)
    error = info.value
    assert error.message.startswith(message), error.message
    assert (error.line, error.col, error.token) == (line, col, token)


# -- cron expressions ---------------------------------------------------------------------------

AT = datetime(2026, 11, 30, 10, 0, 30, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", AT, datetime(2026, 11, 30, 10, 1, tzinfo=UTC)),
        ("*/15 * * * *", AT, datetime(2026, 11, 30, 10, 15, tzinfo=UTC)),
        ("0 3 * * *", AT, datetime(2026, 12, 1, 3, 0, tzinfo=UTC)),
        ("@hourly", AT, datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),
        # six fields: seconds first
        ("* * * * * *", AT, datetime(2026, 11, 30, 10, 0, 31, tzinfo=UTC)),
        ("*/10 * * * * *", AT, datetime(2026, 11, 30, 10, 0, 40, tzinfo=UTC)),
        ("0 */2 * * * *", AT, datetime(2026, 11, 30, 10, 2, tzinfo=UTC)),
        # strictly after: a firing time is never the time it was computed at
        ("0 * * * *", datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
         datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),
        # a naive time is UTC
        ("0 * * * *", datetime(2026, 11, 30, 10, 5), datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_next_firing_is_the_first_time_strictly_after(
    expression: str, after: datetime, expected: datetime
) -> None:
    cron.validate("t", expression)
    assert cron.next_firing(expression, after) == expected


@pytest.mark.parametrize(
    "expression",
    ["", "   ", "* * * *", "61 * * * *", "* * * * * * * *", "every hour", "* * 31 2 *",
     "* * * * * 2031"],
)  # fmt: skip
def test_bad_expressions_are_definition_errors_naming_trigger_and_expression(
    expression: str,
) -> None:
    with pytest.raises(DefinitionError) as info:
        cron.validate("nightly", expression)
    assert '"nightly"' in info.value.message
    assert repr(expression) in info.value.message
    assert info.value.hint
