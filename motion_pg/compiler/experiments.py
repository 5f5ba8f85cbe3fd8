"""Live experiments in the catalog: ``SHADOW OF`` / ``CANARY OF`` at CREATE, ``PROMOTE``, and what
DROP must respect.

An experiment is one row of ``motion.experiments`` (the experiment trigger, its baseline, shadow or
canary and the canary's percent). Both triggers' revisions are bumped whenever it changes, so every
backend reloads their roles (:mod:`motion_pg.runtime.experiments`) from its next statement on.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from psycopg import sql

from motion_pg.compiler import lineage
from motion_pg.compiler.catalog import Catalog
from motion_pg.compiler.session import Session
from motion_pg.dsl import generate, parse
from motion_pg.dsl.spec import CreateMotionTrigger, Experiment
from motion_pg.errors import DefinitionError, UnknownTrigger, unknown_trigger
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.runtime.shadow_batch import KINDS
from motion_pg.settings import Settings
from motion_pg.triggers_ddl import ResolvedRoute, pg_trigger_name, set_route_triggers_enabled


def check(catalog: Catalog, stmt: CreateMotionTrigger, routes: list[ResolvedRoute]) -> None:
    """Refuse an experiment that cannot run: unknown baseline, itself, a chain, a second canary,
    relations without a primary key, or a baseline inferring in batch mode."""
    db, name = catalog.db, stmt.name
    against = db.query(query("experiments_against"), [name])
    experiment = stmt.experiment
    if experiment is None:
        return  # a serving trigger (replacing a baseline in place: its experiments go on)
    baseline = experiment.baseline
    label = f'motion trigger "{name}": {experiment.kind.upper()} OF {baseline}'
    if baseline == name:
        raise DefinitionError(f"{label}: a trigger cannot experiment against itself")
    if catalog.definition(baseline) is None:
        unknown = unknown_trigger(baseline)
        raise UnknownTrigger(f"{label}: {unknown.message}",
                             hint=f"create the serving trigger first; {unknown.hint}")  # fmt: skip
    if db.query(query("experiment_of"), [baseline]):
        raise DefinitionError(
            f'{label}: "{baseline}" is itself an experiment',
            hint=f"run it against the serving trigger, or PROMOTE {baseline} first",
        )
    if against:
        names = ", ".join(r["trigger_name"] for r in against)
        raise DefinitionError(
            f"{label}: experiments run against {name} ({names}): it must stay a serving trigger",
            hint="drop or promote those experiments first",
        )
    if experiment.kind == "canary":
        others = [r for r in db.query(query("experiments_against"), [baseline])
                  if r["kind"] == "canary" and r["trigger_name"] != name]  # fmt: skip
        if others:
            raise DefinitionError(
                f'{label}: "{others[0]["trigger_name"]}" is already a canary of {baseline}',
                hint="one canary per serving trigger; add more variants as shadows",
            )
    for route in routes:
        if route.infer is not None and not route.key_columns:
            raise DefinitionError(
                f"{label}: {route.relation} has no primary key; experiments record outputs and "
                "split canary rows by the row key",
                hint=f"add a primary key to {route.relation}",
            )
    for row in db.query(query("infer_route_pg_triggers"), [baseline]):
        if any(t.endswith("_infer_batch") for t in row["pg_triggers"]):
            raise DefinitionError(
                f'{label}: "{baseline}" infers INSERTs into {row["relation"]} in batch mode; '
                "experiments compare outputs row by row",
                hint=f"recreate {baseline} WITH (infer_mode = 'row')",
            )


def record(db: PlpyDatabase, name: str, experiment: Experiment | None, catalog: Catalog) -> None:
    """Write trigger ``name``'s experiment row (none: it serves), and make both sides reload. A
    canary gets a secret salt that splits its rows (kept when it is replaced against the same
    baseline, so its rows stay where they were)."""
    salt = None
    if experiment is not None and experiment.kind == "canary":
        kept = db.query(query("experiment_salt_of"), [name, experiment.baseline])
        salt = kept[0]["salt"] if kept and kept[0]["salt"] else secrets.token_hex(16)
    old = db.query(query("delete_experiment"), [name])
    if experiment is not None:
        db.query(
            query("insert_experiment"),
            [name, experiment.baseline, experiment.kind, experiment.percent, None],
        )
        if salt is not None:
            db.query(query("set_experiment_salt"), [name, salt])
        catalog.bump_revision(experiment.baseline)
    for row in old:
        catalog.bump_revision(row["baseline"])


def statement_triggers(db: PlpyDatabase, name: str, catalog: Catalog) -> None:
    """Give every infer route of ``name`` and of the triggers it runs an experiment with the
    statement triggers that write a statement's shadow records with one INSERT
    (:mod:`motion_pg.runtime.shadow_batch`); routes that have them already are left alone."""
    sides = [r["name"] for r in db.query(query("experiment_sides"), [name])]
    if len(sides) < 2:
        return  # takes part in no experiment
    for side in sides:
        made: list[tuple[sql.Identifier, str]] = []
        for route in db.query(query("statement_trigger_routes"), [side]):
            table = sql.Identifier(route["schema"], route["name"])
            ordinal = int(route["ordinal"])
            args = sql.SQL(", ").join([sql.Literal(side), sql.Literal(str(ordinal))])
            names = []
            for kind, when in zip(KINDS, ("BEFORE", "AFTER"), strict=True):
                pg_name = pg_trigger_name(side, ordinal, kind)
                if pg_name in route["pg_triggers"]:
                    continue
                db.execute_ddl(sql.SQL(
                    "CREATE TRIGGER {} {} INSERT OR UPDATE ON {} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION motion.shadow_statement({})"
                ).format(sql.Identifier(pg_name), sql.SQL(when), table, args).as_string(None))  # fmt: skip
                names.append(pg_name)
                made.append((table, pg_name))
            if names:
                db.query(query("add_route_pg_triggers"), [side, ordinal, names])
        if made and side != name:  # name's own are enabled with the rest of its triggers
            found = catalog.definition(side)
            always = found is not None and Settings.from_json(found["settings"]).fire_on_replica
            set_route_triggers_enabled(db, made, enabled=True, always=always)
            catalog.bump_revision(side)


def check_drop(db: PlpyDatabase, name: str) -> None:
    """Refuse to drop a baseline an experiment runs against; forget a dropped trigger's records."""
    against = db.query(query("experiments_against"), [name])
    if against:
        names = ", ".join(r["trigger_name"] for r in against)
        raise DefinitionError(
            f'motion trigger "{name}" cannot be dropped: experiments run against it ({names})',
            hint=f"DROP MOTION TRIGGER them first, or ALTER MOTION TRIGGER {against[0]['trigger_name']}"
            " PROMOTE to serve it instead",
        )
    own = db.query(query("experiment_of"), [name])
    db.query(query("delete_shadow_outputs"), [name])
    for row in own:
        Catalog(db).bump_revision(row["baseline"])


def promote(session: Session, catalog: Catalog, name: str) -> str:
    """``ALTER MOTION TRIGGER name PROMOTE`` (returns the status line's tail): ``name`` serves every row from the next statement on;
    its baseline becomes its shadow (it keeps inferring and fitting, into shadow records; drop it
    when the comparison is settled). Other experiments against the baseline follow ``name``."""
    db = session.db
    own = db.query(query("experiment_of"), [name])
    if not own:
        raise DefinitionError(
            f'motion trigger "{name}" is not a shadow or canary: there is nothing to promote',
            hint="PROMOTE applies to a trigger created with SHADOW OF or CANARY OF",
        )
    baseline = own[0]["baseline"]
    settings = Settings.from_json(catalog.lock(name)["settings"])
    catalog.lock(baseline)
    db.query(query("delete_experiment"), [name])
    db.query(query("repoint_experiments"), [baseline, name])
    db.query(query("insert_experiment"), [baseline, name, "shadow", None, None])
    # a shadow has no lineage column yet: serving rows, it stamps them
    lineage.apply(db, name, enabled=settings.lineage, always=settings.fire_on_replica,
                  made=lineage.existing(db, name))  # fmt: skip
    _redefine(db, name, None)
    _redefine(db, baseline, Experiment(kind="shadow", baseline=name))
    catalog.bump_revision(baseline)
    for row in db.query(query("experiments_against"), [name]):
        catalog.bump_revision(row["trigger_name"])
    return f"PROMOTE ({baseline} is now its shadow)"


def _redefine(db: PlpyDatabase, name: str, experiment: Experiment | None) -> None:
    """Rewrite the canonical CREATE text of ``name`` with its new experiment clause."""
    row: dict[str, Any] = db.query(query("trigger_definition_text"), [name])[0]
    statements = parse(row["definition"])
    if len(statements) != 1 or not isinstance(statements[0], CreateMotionTrigger):
        return  # pragma: no cover - definitions are generated CREATE statements
    text = generate(replace(statements[0], experiment=experiment))
    db.query(query("set_definition"), [name, text])
