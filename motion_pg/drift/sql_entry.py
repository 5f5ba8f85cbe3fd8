"""The backend side of the drift SQL functions (``motion.drift_pin``) and the hooks CREATE and
REFIT call to rebuild a trigger's drift reference from the data setup saw."""

from __future__ import annotations

from typing import Any

from motion_pg.drift import store
from motion_pg.errors import raise_in_server, unknown_trigger
from motion_pg.policy import Policy
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.settings import Settings
from motion_pg.trigger import Database


def profiled(settings: Settings, policy: Policy) -> bool:
    """Whether a trigger keeps drift profiles: ``on_drift`` is set or a policy reads drift."""
    return settings.on_drift != "off" or policy.uses_drift


def after_setup(db: Database, trigger: str, settings: Settings, source: str) -> None:
    """CREATE and REFIT: rebuild the reference from the routed relations' rows when the trigger
    keeps drift profiles (``source``: 'setup' or 'refit')."""
    rows = db.query(query("fit_policy_of"), [trigger])
    policy = Policy.from_json(store.as_dict(rows[0]["policy"])) if rows else Policy()
    if profiled(settings, policy):
        store.build_reference(db, trigger, source)
    else:
        store.reset(db, trigger)


def ensure_reference(db: Database, trigger: str, settings: Settings) -> None:
    """ALTER … SET (on_drift = …): a trigger that starts keeping drift profiles gets a reference
    from its relations' rows now, unless it has one."""
    rows = db.query(query("fit_policy_of"), [trigger])
    policy = Policy.from_json(store.as_dict(rows[0]["policy"])) if rows else Policy()
    if profiled(settings, policy) and not db.query(query("drift_reference"), [trigger]):
        store.build_reference(db, trigger, "alter")


def pin(plpy: Any, trigger: str) -> int:
    """``motion.drift_pin(trigger)``: the trigger's recent events become its reference."""
    db = PlpyDatabase(plpy)
    rows = db.query(query("trigger_definition"), [trigger])
    if not rows:
        raise_in_server(plpy, unknown_trigger(trigger))
    settings = Settings.from_json(rows[0]["settings"])
    return store.pin(db, trigger, settings.drift_window)
