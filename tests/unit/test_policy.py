"""Refit policies: parsing FIT WHEN / REFIT EVERY / REFIT WHEN, round trips through generate, the
typed policy's JSON form (what the claim path reads), and positioned errors."""

from __future__ import annotations

import re

import pytest

from motion_pg.dsl import generate, parse
from motion_pg.dsl.spec import CreateMotionTrigger
from motion_pg.errors import DefinitionError, MotionSyntaxError
from motion_pg.policy import Condition, Policy, build, interval_seconds


def create(text: str) -> CreateMotionTrigger:
    [statement] = parse(text)
    assert isinstance(statement, CreateMotionTrigger)
    assert parse(generate(statement)) == [statement]  # canonical text reads back the same
    return statement


def test_count_or_after() -> None:
    s = create(
        "CREATE MOTION TRIGGER t ON x FIT WHEN (count >= 10 or after '5 minutes') USING 'a:B'"
    )
    assert s.policy == Policy(
        fit_when=(Condition("count", 10.0), Condition("after", 300.0, "5 minutes"))
    )
    assert s.policy.to_json() == {
        "fit": {"count": 10, "after": 300.0, "after_text": "5 minutes"},
        "refit": {},
    }
    assert generate(s).endswith("FIT WHEN (COUNT >= 10 OR AFTER '5 minutes') USING 'a:B'")


def test_all_clauses_after_routes_with_methods_and_schedules() -> None:
    s = create(
        "CREATE MOTION TRIGGER t ON x (a) INFER i FIT f ON SCHEDULE '@daily' FIT nightly"
        " REFIT WHEN (DRIFT > 0.5) FIT WHEN (EVERY '1 hour' OR DRIFT > 0.3)"
        " REFIT EVERY '1 day' USING 'a:B' WITH (k = 1)"
    )
    assert s.routes[0].fit == "f" and s.schedules[0].fit == "nightly"
    assert s.policy.fit_when == (Condition("every", 3600.0, "1 hour"), Condition("drift", 0.3))
    assert s.policy.refit_when == (Condition("drift", 0.5),)
    assert s.policy.refit_every == Condition("every", 86400.0, "1 day")
    assert s.policy.uses_drift
    assert Policy.from_json(s.policy.to_json()) == s.policy


def test_no_policy_is_the_empty_policy() -> None:
    s = create("CREATE MOTION TRIGGER t ON x USING 'a:B'")
    assert not s.policy and s.policy == Policy() and not s.policy.uses_drift
    assert Policy.from_json(None) == Policy()


@pytest.mark.parametrize(
    ("clause", "message", "at"),
    [
        ("FIT WHEN (COUNT >= 0)", "needs a positive integer, got 0", "0)"),
        ("FIT WHEN (COUNT >= 2.5)", "COUNT needs a whole number", "2.5"),
        ("FIT WHEN (COUNT > 2)", "expected >= after COUNT", "> 2"),
        ("FIT WHEN (AFTER '5 fortnights')", "invalid interval '5 fortnights'", "'5 f"),
        ("FIT WHEN (DRIFT > 1)", "0 <= x < 1, got 1", "1)"),
        ("FIT WHEN (COUNT >= 1 OR COUNT >= 2)", "COUNT appears twice in FIT WHEN", "COUNT >= 2"),
        ("FIT WHEN (SOON)", "expected a condition (COUNT, AFTER, EVERY or DRIFT)", "SOON"),
        ("FIT WHEN COUNT >= 1", "expected '(' after FIT WHEN", "COUNT"),
        ("FIT WHEN (COUNT >= 1 USING", "expected OR or ')'", "USING"),
        (
            "FIT WHEN (COUNT >= 1) FIT WHEN (COUNT >= 2)",
            "FIT WHEN given twice",
            "FIT WHEN (COUNT >= 2",
        ),
        ("REFIT", "expected EVERY or WHEN after REFIT", "USING"),
        ("REFIT EVERY 10", "expected an interval string after EVERY", "10"),
    ],
)
def test_errors_point_at_their_token(clause: str, message: str, at: str) -> None:
    text = f"CREATE MOTION TRIGGER t ON x {clause} USING 'a:B'".replace("USING USING", "USING")
    with pytest.raises(MotionSyntaxError, match=re.escape(message)) as e:
        parse(text)
    assert (e.value.line, e.value.col) == (1, text.index(at) + 1), e.value


def test_intervals() -> None:
    assert interval_seconds("90") == 90.0
    assert interval_seconds("2 hours") == 7200.0
    assert interval_seconds(" 1 WEEK ") == 604800.0
    for bad in ("", "0 seconds", "-1 minute", "1 fortnight", "soon", "1 2 days"):
        with pytest.raises(DefinitionError, match="invalid interval"):
            interval_seconds(bad)


def test_build_checks_each_condition_once() -> None:
    policy = build([("count", 3), ("after", "1 minute")], [("drift", 0.2)], "1 day")
    assert policy.sql_text() == (
        "FIT WHEN (COUNT >= 3 OR AFTER '1 minute') REFIT EVERY '1 day' REFIT WHEN (DRIFT > 0.2)"
    )
    with pytest.raises(DefinitionError, match="COUNT appears twice"):
        build([("count", 3), ("count", 4)], [], None)
