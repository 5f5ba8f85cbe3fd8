"""Group commit's pieces without a database: slices, their typed groups, the hold after a group
died, and the claim's group limit."""

from __future__ import annotations

import json
import re
from pathlib import Path

from motion_pg.settings import Settings
from motion_pg.trigger import Event, RouteInfo
from motion_pg.worker.budget import Budget
from motion_pg.worker.committing import Claim
from motion_pg.worker.grouping import GROUP_EVENTS, call_size, is_group, slices, split

ROOT = Path(__file__).resolve().parents[2]


def _events(n: int) -> list[Event]:
    return [Event(id=i, op="INSERT", relation="t", route=i % 2, row={}) for i in range(1, n + 1)]


def _route(ordinal: int) -> RouteInfo:
    return RouteInfo(ordinal, "t", None, None, "fit")


def test_slices_keep_order_and_fit_batch() -> None:
    cuts = slices(_events(5), 2)
    assert [[e.id for e in c] for c in cuts] == [[1, 2], [3, 4], [5]]


def test_split_gives_each_slice_its_own_route_groups() -> None:
    events = _events(5)
    a, b = _route(0), _route(1)
    groups = [(b, [events[0]]), (a, [events[1]]), (b, [events[2]]), (a, [events[3]]),
              (b, [events[4]])]  # fmt: skip
    out = split(groups, slices(events, 3))
    assert [[(r.ordinal, [e.id for e in g]) for r, g in s] for s in out] == [
        [(1, [1]), (0, [2]), (1, [3])],
        [(0, [4]), (1, [5])],
    ]


def test_a_claim_is_a_group_only_beyond_one_call() -> None:
    claim = Claim(run_id=1, trigger="t", events=_events(3), slice_events=1)
    assert call_size(claim, Settings()) == 1 and is_group(claim, 1)
    assert call_size(claim, Settings(fit_batch=3)) == 3
    assert not is_group(claim, 3)
    assert not is_group(Claim(run_id=1, trigger="t", events=_events(3)), 0)


def test_a_held_trigger_is_claimed_one_call_at_a_time_until_its_events_fitted() -> None:
    budget = Budget()
    budget.hold("t", 3, 1)
    assert json.loads(budget.caps_json()) == {"t": 1}
    budget.observe("t", 1, 0.001, Settings())
    budget.observe("t", 1, 0.001, Settings())
    assert json.loads(budget.caps_json())["t"] == 1
    budget.observe("t", 1, 0.001, Settings())
    assert json.loads(budget.caps_json())["t"] > 1, "held no longer"


def test_the_claim_groups_up_to_the_same_limit() -> None:
    body = (ROOT / "sql" / "idempotent" / "180-claim.sql").read_text()
    found = re.search(r"GREATEST\(coalesce\(\(t\.settings\)\.fit_batch, \$3::integer\), (\d+)\)",
                      body)  # fmt: skip
    assert found is not None and int(found.group(1)) == GROUP_EVENTS
