"""Per-column expectations (motion_pg.runtime.expect) and the flow settings, without a database."""

from __future__ import annotations

import pytest

from motion_pg.errors import InvalidSetting
from motion_pg.runtime.expect import parse
from motion_pg.settings import Settings


def test_rules_report_what_is_wrong() -> None:
    e = parse("expect", '{"s": {"min": 0, "max": 1, "not_null": true}, "t": {"in": ["a", "b"]}}')
    assert e.check({"s": 0.5, "t": "a"}) == []
    assert e.check({"s": 1.5}) == [("s", 1.5, "1.5 is above max 1")]
    assert e.check({"s": -1}) == [("s", -1, "-1 is below min 0")]
    assert e.check({"s": None, "t": None}) == [("s", None, "is NULL, expected NOT NULL")]
    assert e.check({"t": "c"}) == [("t", "c", "'c' is not one of the allowed values ('a', 'b')")]
    assert e.check({"s": "x"})[0][2] == "'x' is not a number, expected one in [0, 1]"
    assert e.check({"other": 5}) == []  # columns a row does not have are not checked


def test_min_max_are_inclusive_and_nan_is_refused() -> None:
    e = parse("expect", '{"s": {"min": 0, "max": 1}}')
    assert e.check({"s": 0}) == [] and e.check({"s": 1}) == []
    assert e.check({"s": float("nan")})[0][2].endswith("is not a number, expected one in [0, 1]")


def test_the_setting_is_stored_canonical() -> None:
    s = Settings().updated({"expect": '{"b": {"max": 2},  "a": {"min": 1}}'})
    assert s.expect == '{"a": {"min": 1}, "b": {"max": 2}}'
    assert Settings.from_json(s.to_json()).expect == s.expect


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"expect": 5}, "must be a JSON object in a string"),
        ({"expect": '{"a": {"not_null": 1}}'}, "not_null must be true or false"),
        ({"expect": '{"a": {}}'}, "rules must be a non-empty object"),
        ({"discard_after": "0 seconds"}, "more than zero seconds"),
        ({"keep_latest": -1}, "positive integer"),
        ({"on_violation": "warn"}, "must be one of"),
    ],
)
def test_bad_flow_settings(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        Settings().updated(params)  # type: ignore[arg-type]


def test_flow_settings_defaults_and_intervals() -> None:
    s = Settings()
    assert (s.discard_after, s.keep_latest, s.expect, s.on_violation) == (None, None, None, "raise")
    assert Settings().updated({"discard_after": "10 minutes"}).discard_after == 600.0
    assert Settings().updated({"discard_after": 30}).discard_after == 30.0
    assert Settings().updated({"keep_latest": 3}).keep_latest == 3
