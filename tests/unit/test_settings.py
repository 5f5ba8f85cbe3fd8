"""The typed settings: defaults, validation, near-miss names."""

from __future__ import annotations

import pytest

from motion_pg.errors import InvalidSetting
from motion_pg.settings import Settings, split


def test_defaults_and_round_trip() -> None:
    s = Settings()
    assert s.max_attempts == 5 and s.on_error == "raise" and s.fit_batch is None
    assert Settings.from_json(s.to_json()) == s


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("fit_batch", "abc"),
        ("fit_batch", -1),
        ("fit_batch", 0),
        ("fit_batch", 1.5),
        ("fit_batch", True),
        ("fit_timeout", "soon"),
        ("fit_timeout", 0),
        ("fit_timeout", float("inf")),
        ("max_attempts", "x"),
        ("retry_delay", -1),
        ("on_error", "ignore"),
        ("on_fit_error", 1),
        ("infer_mode", "fast"),
        ("fire_on_replica", "yes"),
    ],
)
def test_bad_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(InvalidSetting, match=name):
        Settings().updated({name: value})  # type: ignore[dict-item]


def test_updates_apply_and_null_resets() -> None:
    s = Settings().updated({"fit_batch": 10, "on_error": "skip", "retry_delay": 0})
    assert (s.fit_batch, s.on_error, s.retry_delay) == (10, "skip", 0.0)
    assert s.updated({"fit_batch": None}).fit_batch is None


def test_split_keeps_user_params_and_refuses_near_misses() -> None:
    settings, user = split({"fit_batch": 3, "threshold": 0.5, "label": "x"})
    assert settings == {"fit_batch": 3}
    assert user == {"threshold": 0.5, "label": "x"}
    for typo in ("max_attempt", "fit_batchs", "on_eror", "retry_dealy"):
        with pytest.raises(InvalidSetting, match="did you mean"):
            split({typo: 1})


def test_retention_settings_accept_intervals_and_counts() -> None:
    s = Settings().updated({"keep_events": "7 days", "keep_versions": 30, "lineage": False})
    assert (s.keep_events, s.keep_versions, s.lineage) == (7 * 86400.0, 30, False)
    assert Settings().updated({"keep_events": "12 hours"}).keep_events == 43200.0
    assert Settings().updated({"keep_events": 90}).keep_events == 90.0


@pytest.mark.parametrize("bad", ["7 fortnights", "soon", "-1 days", "", True])
def test_keep_events_refuses_what_is_not_an_interval(bad: object) -> None:
    with pytest.raises(InvalidSetting, match="keep_events"):
        Settings().updated({"keep_events": bad})  # type: ignore[dict-item]
