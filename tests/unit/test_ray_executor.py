"""``executor = 'ray'`` without a cluster: its settings, and the Ray task's own checks (the code
digest, no database), run in this process."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from motion_pg.errors import FitError, InvalidSetting
from motion_pg.runtime import identity
from motion_pg.settings import Settings, split
from motion_pg.trigger import Event, RouteInfo
from motion_pg.worker import ray_task

APPS = Path(__file__).resolve().parents[1] / "apps"
CLASS = "motion_test_apps.ray_fits:RayTally"
ROUTE = RouteInfo(ordinal=1, relation="tally", columns=None, infer=None, fit="fit")


def test_executor_settings_are_typed() -> None:
    assert (Settings().executor, Settings().ray_address) == ("local", None)
    s = Settings().updated({"executor": "ray", "ray_address": "127.0.0.1:6379"})
    assert (s.executor, s.ray_address) == ("ray", "127.0.0.1:6379")
    assert Settings.from_json(s.to_json()) == s
    assert split({"executor": "ray", "ray_address": "auto", "x": 1})[1] == {"x": 1}


@pytest.mark.parametrize(
    ("name", "value"),
    [("executor", "gpu"), ("executor", 1), ("ray_address", ""), ("ray_address", "a b"),
     ("ray_address", 6379)],
)  # fmt: skip
def test_executor_settings_refuse_bad_values(name: str, value: Any) -> None:
    with pytest.raises(InvalidSetting, match=name):
        Settings().updated({name: value})


def test_a_near_miss_of_executor_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="did you mean 'executor'"):
        split({"executer": "ray"})


@pytest.fixture(autouse=True)
def _apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(APPS))


def _request(deployed: str | None, params: dict[str, Any] | None = None) -> ray_task.FitRequest:
    events = [Event(id=i, op="INSERT", relation="tally", route=1, row={"id": i, "value": i})
              for i in (1, 2)]  # fmt: skip
    return ray_task.FitRequest(
        trigger="tally", class_ref=CLASS, deployed=deployed, version=3,
        state={"count": 1, "ids": [0], "where": [], "pids": []}, params=params or {},
        groups=[(ROUTE, events)],
    )  # fmt: skip


def test_the_task_computes_what_the_local_fit_would() -> None:
    deployed = identity.identify(CLASS).digest
    status, updates = ray_task.run(pickle.dumps(_request(deployed)))
    assert status == "ok"
    state = {k: pickle.loads(v) for k, v in updates.items()}
    assert (state["count"], state["ids"]) == (3, [0, 1, 2])


def test_the_task_refuses_code_that_is_not_the_deployed_code() -> None:
    with pytest.raises(FitError, match=r"code on the ray worker differs from the deployed code"):
        ray_task.compute(_request("0" * 64))
    status, text = ray_task.run(pickle.dumps(_request("0" * 64)))
    assert status == "error" and "differs from the deployed code" in text


def test_the_task_has_no_database() -> None:
    deployed = identity.identify(CLASS).digest
    status, text = ray_task.run(pickle.dumps(_request(deployed, {"mode": "db"})))
    assert status == "error" and "ctx.db is not available to a fit run on Ray" in text
