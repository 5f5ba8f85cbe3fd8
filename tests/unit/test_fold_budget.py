"""The fit call budget (issue 15 goal 2): caps from the measured cost per event."""

from __future__ import annotations

from motion_pg.settings import Settings
from motion_pg.worker.budget import GROWTH, PROBE, Budget, Limits


def test_an_untimed_trigger_starts_at_the_probe() -> None:
    assert Budget().cap("t") == PROBE


def test_the_cap_fits_the_time_budget() -> None:
    budget = Budget(Limits(seconds=1.0))
    budget.observe("t", 100, 0.5, Settings())  # 5 ms per event: 200 fit in a second
    assert budget.cap("t") == 200
    budget.observe("t", 200, 4.0, Settings())  # slower now: 20 ms per event
    assert budget.cap("t") == 50


def test_a_trigger_setting_overrides_the_worker_default() -> None:
    budget = Budget(Limits(seconds=1.0))
    budget.observe("t", 100, 0.5, Settings(fit_batch_time=0.1))
    assert budget.cap("t") == 20


def test_a_cheap_fit_grows_by_steps() -> None:
    budget = Budget(Limits(seconds=1.0))
    budget.observe("t", PROBE, 0.001, Settings())
    assert budget.cap("t") == PROBE * GROWTH
    budget.observe("t", 1, 0.002, Settings())  # a trickle: its call's fixed cost bounds the cap
    assert budget.cap("t") == 500


def test_a_very_slow_fit_still_gets_one_event() -> None:
    budget = Budget(Limits(seconds=0.1))
    budget.observe("t", 1, 30.0, Settings())
    assert budget.cap("t") == 1


def test_caps_go_to_the_claim_as_json() -> None:
    budget = Budget()
    budget.observe("a", 10, 0.01, Settings())
    assert budget.caps_json() == '{"a": 800}'
