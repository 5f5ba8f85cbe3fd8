"""ALTER, DROP and SHOW MOTION TRIGGER.

Every ALTER takes the trigger's catalog row lock first and folds onto the row that lock returns, so
concurrent ALTERs and fits are serial: a version's parent is always the version serving just before
it, and nothing another session committed meanwhile is lost.
"""

from __future__ import annotations

import json
from typing import Any

from motion_pg.compiler import chains, checks, deploys, experiments, infer_modes, keyed, lineage
from motion_pg.compiler.catalog import Catalog
from motion_pg.compiler.create import run_setup
from motion_pg.compiler.session import Session, recorded_path
from motion_pg.drift.sql_entry import after_setup, ensure_reference
from motion_pg.dsl.spec import (
    AlterMotionTrigger,
    Backfill,
    DropMotionTrigger,
    PinVersion,
    Promote,
    Refit,
    Reload,
    RollbackToVersion,
    SetEnabled,
    SetParams,
    Unpin,
)
from motion_pg.errors import DefinitionError, unknown_trigger
from motion_pg.runtime import backfill, identity, loader
from motion_pg.runtime.retention import check_not_pruned
from motion_pg.runtime.state import head_version, write_version
from motion_pg.settings import Settings
from motion_pg.settings import split as split_params
from motion_pg.triggers_ddl import drop_route_triggers, set_route_triggers_enabled


def alter(session: Session, catalog: Catalog, stmt: AlterMotionTrigger) -> str:
    """Run an ALTER statement; returns its status line."""
    name, action = stmt.name, stmt.action
    if isinstance(action, Backfill):  # changes no definition: no lock, no new revision
        if catalog.definition(name) is None:
            raise unknown_trigger(name)
        done = backfill.inline(session.plpy, name, action.stale, action.where)
        return f"ALTER MOTION TRIGGER {name} BACKFILL ({done})"
    current = catalog.lock(name)  # first: everything below reads this row, never an older one
    params = _params(current)
    settings = Settings.from_json(current["settings"])
    pinned = current["pinned_version"]
    # new versions fold onto the newest one: the serving one unless a pin holds serving behind it
    serving = head_version(session.db, name) if pinned is not None else current["serving_version"]
    version: int | None = None  # the version the action writes
    if isinstance(action, SetParams):
        named, user_params = split_params(action.params)
        settings = settings.updated(named)
        params.update(user_params)
        catalog.set_config(name, params, settings)
        if "fire_on_replica" in named:
            _apply_enabled(session, catalog, name, current["enabled"], settings)
        if "lineage" in named and settings.lineage:  # adds missing columns; false stops stamping
            lineage.apply(session.db, name, enabled=True, always=settings.fire_on_replica,
                          made=lineage.existing(session.db, name))  # fmt: skip
        if "infer_mode" in named:  # the routes' Postgres triggers, as CREATE OR REPLACE makes them
            infer_modes.apply(session, name)
        if "on_drift" in named:  # profiling starts: a reference from the data now
            ensure_reference(session.db, name, settings)
        version = write_version(session.db, name, {}, source="params", parent=serving,
                                params=params, settings=settings)  # fmt: skip
        done = f"SET (version {version})"
    elif isinstance(action, RollbackToVersion):
        if pinned is not None:
            raise DefinitionError(
                f'motion trigger "{name}" is pinned to version {pinned}: a rollback would not be '
                "served",
                hint=f"ALTER MOTION TRIGGER {name} PIN VERSION {action.version} serves that "
                "version now; or UNPIN first",
            )
        target = catalog.version_config(name, action.version)
        if target is None:
            raise DefinitionError(
                f'motion trigger "{name}" has no version {action.version}',
                hint="see its versions in motion.version_history",
            )
        check_not_pruned(session.db, name, action.version)
        params, restored = target
        catalog.set_config(name, params, restored)
        if restored.fire_on_replica != settings.fire_on_replica:
            _apply_enabled(session, catalog, name, current["enabled"], restored)
        if restored.infer_mode != settings.infer_mode:
            infer_modes.apply(session, name)
        version = write_version(session.db, name, {}, source="rollback", parent=serving,
                                base=action.version, restored_from=action.version,
                                params=params, settings=restored)  # fmt: skip
        keyed.rollback(session.db, name, action.version, version)
        done = f"ROLLBACK TO VERSION {action.version} (version {version})"
    elif isinstance(action, Refit):
        # the deployed code: code edited on disk since runs only after RELOAD
        identity.ensure(name, current["class_ref"], deploys.deployed_digest(session.db, name))
        cls = loader.load_class(current["class_ref"])
        instance = loader.instantiate(cls, current["class_ref"])
        path = current["search_path"]
        if path is None:  # recorded by CREATE since 0.3
            path = recorded_path(session.caller_path)
        state = run_setup(session, name, instance, params, path)
        version = write_version(session.db, name, state, source="refit", parent=serving,
                                params=params, settings=settings, inherit=False)  # fmt: skip
        after_setup(session.db, name, settings, "refit")  # the drift reference
        done = f"REFIT (version {version})"
    elif isinstance(action, Reload):
        done = deploys.reload(session.db, name, current["class_ref"])
        cls = loader.load_class(current["class_ref"])
        checks.check_class(cls, current["class_ref"])
        loader.instantiate(cls, current["class_ref"])
    elif isinstance(action, PinVersion):
        if catalog.version_config(name, action.version) is None:
            raise DefinitionError(
                f'motion trigger "{name}" has no version {action.version}',
                hint="see its versions in motion.version_history",
            )
        check_not_pruned(session.db, name, action.version)
        catalog.set_pinned(name, action.version)
        done = f"PIN VERSION {action.version}"
    elif isinstance(action, Unpin):
        if pinned is None:
            session.notice(f'motion trigger "{name}" is not pinned')
        catalog.set_pinned(name, None)
        done = f"UNPIN (version {head_version(session.db, name)})"
    elif isinstance(action, Promote):
        done = experiments.promote(session, catalog, name)
    elif isinstance(action, SetEnabled):
        catalog.set_enabled(name, action.enabled)
        _apply_enabled(session, catalog, name, action.enabled, settings)
        if not action.enabled:
            session.notice(
                f'motion trigger "{name}" is disabled: rows written from now on are not '
                "inferred; their fit events are kept and fitted after ENABLE"
            )
        done = "ENABLE" if action.enabled else "DISABLE"
    else:
        raise DefinitionError(f"unsupported ALTER action {type(action).__name__}")
    if version is not None:
        digest = deploys.deployed_digest(session.db, name)
        deploys.record_version_code(session.db, name, version, digest)
    if pinned is not None and isinstance(action, SetParams | Refit):
        session.notice(
            f'motion trigger "{name}" stays pinned to version {pinned}: the new version is not '
            "served until UNPIN"
        )
    catalog.bump_revision(name)
    return f"ALTER MOTION TRIGGER {name} {done}"


def _params(row: dict[str, Any]) -> dict[str, Any]:
    raw = row["params"]
    return dict(json.loads(raw) if isinstance(raw, str) else raw)


def _apply_enabled(
    session: Session, catalog: Catalog, name: str, enabled: bool, settings: Settings
) -> None:
    set_route_triggers_enabled(session.db, catalog.pg_triggers(name), enabled=enabled,
                               always=settings.fire_on_replica)  # fmt: skip


def drop(session: Session, catalog: Catalog, stmt: DropMotionTrigger) -> str:
    """Run a DROP statement; returns its status line."""
    if catalog.definition(stmt.name) is None:
        if stmt.if_exists:
            session.notice(f'motion trigger "{stmt.name}" does not exist, skipping')
            return f"DROP MOTION TRIGGER {stmt.name} (absent, skipped)"
        raise unknown_trigger(stmt.name)
    catalog.lock(stmt.name)
    experiments.check_drop(session.db, stmt.name)
    relids = chains.relids_of(session.db, stmt.name)
    drop_route_triggers(session.db, catalog.pg_triggers(stmt.name))
    lineage.drop_columns(session.db, stmt.name)
    catalog.delete(stmt.name)
    chains.rechain(session.db, relids)  # the triggers downstream of it move up
    return f"DROP MOTION TRIGGER {stmt.name}"


def show(catalog: Catalog) -> str:
    """SHOW MOTION TRIGGERS: one line per trigger; settings that differ from the defaults."""
    header = ("name", "class", "enabled", "version", "pending", "params", "settings")
    defaults = Settings().to_json()
    table = [header]
    for r in catalog.show():
        changed = {k: v for k, v in Settings.from_json(r["settings"]).to_json().items()
                   if v != defaults[k]}  # fmt: skip
        version = str(r["serving_version"])
        if r["pinned_version"] is not None:
            version += " (pinned)"
        table.append((r["name"], r["class_ref"], str(r["enabled"]).lower(),
                      version, str(r["pending"]), r["params"],
                      json.dumps(changed)))  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )
