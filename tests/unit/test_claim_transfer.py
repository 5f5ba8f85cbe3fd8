"""A claim crosses the pipe to the fit process as columns of its events (issue 15, goal 2)."""

from __future__ import annotations

import pickle

from motion_pg.trigger import Event
from motion_pg.worker.committing import Claim
from motion_pg.worker.keyed_claim import KeyedClaim


def _events(n: int) -> list[Event]:
    return [Event(id=i, op="SCHEDULE" if i % 3 == 0 else "INSERT", relation="public.t", route=i % 2,
                  row={"a": i} if i % 3 == 0 else {}) for i in range(1, n + 1)]  # fmt: skip


def test_a_claim_pickles_to_an_equal_claim() -> None:
    claim = Claim(run_id=7, trigger="t", events=_events(10), worker_id="w", refit=3,
                  refit_known=True)  # fmt: skip
    again = pickle.loads(pickle.dumps(claim))
    assert again == claim
    assert all(type(e) is Event for e in again.events)


def test_a_keyed_claim_keeps_its_keys_and_an_empty_claim_its_nothing() -> None:
    keyed = KeyedClaim(run_id=1, trigger="k", events=_events(4), keys={1: '["a"]', 2: '["b"]'})
    assert pickle.loads(pickle.dumps(keyed)) == keyed
    empty = Claim(run_id=2, trigger="t", events=[])
    assert pickle.loads(pickle.dumps(empty)) == empty


def test_a_bulk_claim_is_smaller_as_columns() -> None:
    """The relation is sent once, not once per event."""
    events = _events(10_000)
    claim = Claim(run_id=1, trigger="t", events=events)
    assert len(pickle.dumps(claim)) < len(pickle.dumps(events)) / 2
