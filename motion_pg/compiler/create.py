"""CREATE [OR REPLACE] MOTION TRIGGER, and the setup that builds a trigger's first state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from motion_pg.async_triggers import async_notice
from motion_pg.compiler import (
    chains,
    checks,
    deploys,
    experiments,
    keyed,
    lineage,
    policies,
    schedules,
)
from motion_pg.compiler.catalog import Catalog
from motion_pg.compiler.session import Session, recorded_path
from motion_pg.drift.sql_entry import after_setup
from motion_pg.dsl import generate
from motion_pg.dsl.spec import CreateMotionTrigger, Route
from motion_pg.errors import DefinitionError, DuplicateTrigger, UserCodeError
from motion_pg.queries import query
from motion_pg.runtime import backfill, identity, loader
from motion_pg.runtime.plpy_db import user_database
from motion_pg.runtime.state import write_version
from motion_pg.settings import Settings
from motion_pg.settings import split as split_params
from motion_pg.trigger import Context, Trigger
from motion_pg.triggers_ddl import (
    ResolvedRoute,
    create_route_triggers,
    drop_route_triggers,
    infer_mode,
    resolve_route,
    set_route_triggers_enabled,
)


def create(session: Session, catalog: Catalog, stmt: CreateMotionTrigger) -> str:
    """Run a CREATE statement; returns its status line."""
    checks.check_trigger_name(stmt.name)
    existing = catalog.definition(stmt.name)
    if existing is not None:
        if stmt.if_not_exists:
            session.notice(f'motion trigger "{stmt.name}" already exists, skipping')
            return f"CREATE MOTION TRIGGER {stmt.name} (exists, skipped)"
        if not stmt.or_replace:
            raise DuplicateTrigger(
                f'motion trigger "{stmt.name}" already exists',
                hint="use CREATE OR REPLACE MOTION TRIGGER, or DROP MOTION TRIGGER first",
            )
        catalog.lock(stmt.name)
    named, user_params = split_params(stmt.params)
    settings = Settings().updated(named)
    checks.check_class_ref(stmt.using)
    code = identity.reload(stmt.using)  # CREATE deploys the code on disk
    cls = loader.load_class(stmt.using)
    checks.check_class(cls, stmt.using)
    instance = loader.instantiate(cls, stmt.using)
    routes = [_resolve(session, stmt.name, i, r, instance, stmt.using)
              for i, r in enumerate(stmt.routes)]  # fmt: skip
    scheduled = schedules.resolve(stmt, instance)
    experiments.check(catalog, stmt, routes)
    path = recorded_path(session.caller_path)
    made = lineage.existing(session.db, stmt.name)  # OR REPLACE keeps these lineage columns
    before = chains.relids_of(session.db, stmt.name)  # OR REPLACE: their chains change too
    previous_per = keyed.state_per(session.db, stmt.name) if existing is not None else None
    if existing is not None:
        backfill.supersede(session.plpy, stmt.name)  # it visits routes being replaced
        drop_route_triggers(session.db, catalog.pg_triggers(stmt.name))
        catalog.delete_routes(stmt.name)
    catalog.write_trigger(
        stmt.name, replace=existing is not None, class_ref=stmt.using, params=user_params,
        definition=generate(stmt), settings=settings, search_path=path,
    )  # fmt: skip
    deploys.record_deploy(session.db, stmt.name, "create" if existing is None else "replace", code)
    experiments.record(session.db, stmt.name, stmt.experiment, catalog)
    keyed.write(session.db, stmt.name, stmt.state_per, previous_per, existing is not None)
    for route in routes:
        mode = infer_mode(session.db, stmt.name, route)
        # an experiment infers row by row: each row is recorded, or split by its key
        batch = stmt.experiment is None and mode == "batch"
        keyed.check(session.db, stmt, [route], batch)
        if mode == "async":
            session.notice(async_notice(stmt.name, route.relation))
        if batch:
            session.notice(
                f'motion trigger "{stmt.name}": INSERTs into {route.relation} are inferred in '
                f"batch mode (the class defines infer_batch): outputs are written at the end of "
                f"each statement, so INSERT … RETURNING and other triggers do not see them; "
                f"WITH (infer_mode = 'row') infers row by row instead"
            )
        names = create_route_triggers(
            session.db, stmt.name, route, batch=batch, deferred=mode == "async"
        )
        catalog.insert_route(stmt.name, route, names)
    chains.link(session.db, stmt.name, instance, stmt.using, before)  # order; refuse cycles
    schedules.write(session.db, stmt.name, scheduled)
    policies.write(session.db, stmt)
    # a shadow writes nothing into rows: it gets its lineage column when PROMOTE makes it serve
    shadow = stmt.experiment is not None and stmt.experiment.kind == "shadow"
    lineage.apply(session.db, stmt.name, enabled=settings.lineage and not shadow, always=False,
                  made=made)  # fmt: skip
    experiments.statement_triggers(session.db, stmt.name, catalog)  # one INSERT per statement
    # disables the standby fit triggers of batch routes; ALWAYS with fire_on_replica
    set_route_triggers_enabled(session.db, catalog.pg_triggers(stmt.name), enabled=True,
                               always=settings.fire_on_replica)  # fmt: skip
    state = run_setup(session, stmt.name, instance, user_params, path)
    current = catalog.lock(stmt.name)
    # OR REPLACE: the new definition's first version still follows the one that served before
    parent = current["serving_version"] if existing is not None else None
    version = write_version(session.db, stmt.name, state, source="setup", parent=parent,
                            params=user_params, settings=settings, inherit=False)  # fmt: skip
    deploys.record_version_code(session.db, stmt.name, version, code.digest)
    after_setup(session.db, stmt.name, settings, "setup")  # the drift reference
    done = f"version {version}"
    if settings.backfill:  # the rows already there; few inline, else a run left to the CLI
        done += ", backfill " + backfill.inline(session.plpy, stmt.name, False, None)
    return f"CREATE MOTION TRIGGER {stmt.name} ({done})"


def _resolve(
    session: Session, name: str, ordinal: int, route: Route, instance: Trigger, class_ref: str
) -> ResolvedRoute:
    checks.check_relation_name(name, route.relation)
    resolved = resolve_route(session.db, ordinal, route, session.caller_path)
    checks.check_relation_schema(name, resolved.schema, resolved.relation)
    owner = session.db.query(query("relation_owner"), [resolved.relid])[0]
    checks.check_relation_owner(name, resolved.relation, owner["owner"], owner["superuser"])
    for method in (resolved.infer, resolved.fit):
        if method is not None:
            loader.method(instance, method, class_ref)
    if (
        route.infer is None
        and not route.no_infer
        and (
            callable(getattr(instance, "infer", None))
            or callable(getattr(instance, "infer_batch", None))
        )
    ):
        resolved.infer = "infer"
    if route.fit is None and not route.no_fit and callable(getattr(instance, "fit", None)):
        resolved.fit = "fit"
    if resolved.infer is None and resolved.fit is None:
        raise DefinitionError(
            f'motion trigger "{name}": route ON {route.relation} has neither infer nor fit',
            hint=f"class {class_ref!r} defines no infer/fit method; name one with INFER/FIT",
        )
    return resolved


def run_setup(
    session: Session,
    name: str,
    instance: Trigger,
    params: Mapping[str, Any],
    search_path: Sequence[str],
) -> Mapping[str, Any]:
    """The state the class's ``setup`` builds; its SQL (``ctx.db``) runs under the trigger's
    recorded ``search_path``, as infer's and fit's do."""
    ctx = Context(
        trigger=name, version=0, state=MappingProxyType({}),
        params=MappingProxyType(dict(params)), db=user_database(session.db, search_path),
    )  # fmt: skip
    try:
        state = instance.setup(ctx)
    except Exception as e:
        raise UserCodeError(
            f'motion trigger "{name}": setup failed: {type(e).__name__}: {e}'
        ) from e
    if not isinstance(state, Mapping):
        raise UserCodeError(
            f'motion trigger "{name}": setup must return a dict, got {type(state).__name__}'
        )
    return state
