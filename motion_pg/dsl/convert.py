"""Motion statement nodes ↔ :mod:`motion_pg.dsl.spec` dataclasses.

Towards the dataclasses, names are folded by Postgres rules (unquoted → lowercase, quoted → as
written) except method names, which are Python names and so are kept exactly as written. Towards the
nodes, each name is marked quoted exactly when it must be quoted to read back unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from motion_pg.dsl import nodes
from motion_pg.dsl.lexical import fold, method_needs_quotes, name_needs_quotes
from motion_pg.dsl.policy_clause import CONDITIONS
from motion_pg.dsl.spec import (
    AlterAction,
    AlterMotionTrigger,
    Backfill,
    CreateMotionTrigger,
    DropMotionTrigger,
    Experiment,
    Literal,
    PinVersion,
    Promote,
    Refit,
    RelationName,
    Reload,
    RollbackToVersion,
    Route,
    Schedule,
    SetEnabled,
    SetParams,
    ShowMotionTriggers,
    Statement,
    Unpin,
)
from motion_pg.policy import Condition, Policy

# -- nodes → dataclasses ------------------------------------------------------------------------


def to_statement(node: nodes.MotionStatement) -> Statement:
    """The dataclass a parsed motion node means."""
    args = node.args
    if isinstance(node, nodes.MotionCreate):
        return CreateMotionTrigger(
            name=_name(args["this"]),
            routes=tuple(_route(route) for route in args.get("routes") or ()),
            using=str(args["using"].this),
            params=_params(args.get("params")),
            or_replace=bool(args.get("replace")),
            if_not_exists=bool(args.get("exists")),
            schedules=tuple(_schedule(s) for s in args.get("schedules") or ()),
            state_per=tuple(_name(c) for c in args["state_per"]) if args.get("state_per") else None,
            experiment=_experiment(args.get("experiment")),
            policy=_policy(args.get("policy")),
        )
    if isinstance(node, nodes.MotionAlter):
        return AlterMotionTrigger(name=_name(args["this"]), action=_action(node))
    if isinstance(node, nodes.MotionDrop):
        return DropMotionTrigger(name=_name(args["this"]), if_exists=bool(args.get("exists")))
    if isinstance(node, nodes.MotionShow):
        return ShowMotionTriggers()
    raise TypeError(f"not a motion statement node: {type(node).__name__}")


def _name(identifier: exp.Identifier) -> str:
    text = str(identifier.this)
    return text if identifier.quoted else fold(text)


def _method(identifier: exp.Identifier | None) -> str | None:
    return None if identifier is None else str(identifier.this)


def _route(node: nodes.MotionRoute) -> Route:
    table = node.args["this"]
    schema = table.args.get("db")
    columns = node.args.get("columns")
    return Route(
        relation=RelationName(_name(table.args["this"]), _name(schema) if schema else None),
        columns=tuple(_name(column) for column in columns) if columns else None,
        infer=_method(node.args.get("infer")),
        fit=_method(node.args.get("fit")),
        no_infer=bool(node.args.get("no_infer")),
        no_fit=bool(node.args.get("no_fit")),
    )


def _schedule(node: nodes.MotionSchedule) -> Schedule:
    return Schedule(cron=str(node.this.this), fit=_method(node.args.get("fit")))


def _experiment(node: nodes.MotionExperiment | None) -> Experiment | None:
    if node is None:
        return None
    percent = node.args.get("percent")
    return Experiment(
        kind=str(node.args["kind"]),
        baseline=_name(node.this),
        percent=float(percent.this) if percent is not None else None,
    )


def _policy(node: nodes.MotionPolicy | None) -> Policy:
    if node is None:
        return Policy()

    def conditions(key: str, where: str) -> tuple[Condition, ...]:
        return tuple(
            Condition.make(str(c.this), _literal_raw(c.expression), where)
            for c in node.args.get(key) or ()
        )

    every = node.args.get("refit_every")
    return Policy(
        fit_when=conditions("fit", "FIT WHEN"),
        refit_when=conditions("refit", "REFIT WHEN"),
        refit_every=Condition.make("every", str(every.this), "REFIT EVERY") if every else None,
    )


def _literal_raw(node: exp.Literal) -> int | float | str:
    value = nodes.literal_value(node)
    assert isinstance(value, int | float | str) and not isinstance(value, bool)
    return value


def _params(params: list[nodes.MotionParam] | None) -> dict[str, Literal]:
    return {_name(p.args["this"]): nodes.literal_value(p.args["expression"]) for p in params or ()}


def _action(node: nodes.MotionAlter) -> AlterAction:
    action = node.args["action"]
    if action == "set":
        return SetParams(_params(node.args.get("params")))
    if action == "rollback":
        return RollbackToVersion(int(node.args["version"].this))
    if action == "refit":
        return Refit()
    if action == "reload":
        return Reload()
    if action == "pin":
        return PinVersion(int(node.args["version"].this))
    if action == "unpin":
        return Unpin()
    if action == "promote":
        return Promote()
    if action == "backfill":
        where = node.args.get("where")
        return Backfill(
            stale=bool(node.args.get("stale")), where=str(where.this) if where else None
        )
    return SetEnabled(action == "enable")


# -- dataclasses → nodes ------------------------------------------------------------------------


def to_node(statement: Statement) -> nodes.MotionStatement:
    """The motion node that spells ``statement``; ValueError if no text can spell it."""
    if isinstance(statement, CreateMotionTrigger):
        if not statement.routes and not statement.schedules:
            raise ValueError("a motion trigger needs at least one route or schedule")
        return nodes.MotionCreate(
            this=_identifier(statement.name),
            routes=[_route_node(route) for route in statement.routes] or None,
            schedules=[_schedule_node(s) for s in statement.schedules] or None,
            using=exp.Literal.string(_text(statement.using, "USING")),
            params=_param_nodes(statement.params) or None,
            replace=statement.or_replace,
            exists=statement.if_not_exists,
            state_per=[_identifier(c) for c in statement.state_per]
            if statement.state_per
            else None,
            experiment=_experiment_node(statement.experiment),
            policy=_policy_node(statement.policy),
        )
    if isinstance(statement, AlterMotionTrigger):
        return _alter_node(statement)
    if isinstance(statement, DropMotionTrigger):
        return nodes.MotionDrop(this=_identifier(statement.name), exists=statement.if_exists)
    if isinstance(statement, ShowMotionTriggers):
        return nodes.MotionShow()
    raise ValueError(f"not a motion statement: {statement!r}")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {value!r}")
    return value


def _identifier(name: str, method: bool = False) -> exp.Identifier:
    if not _text(name, "a name"):
        raise ValueError("names cannot be empty")
    quoted = method_needs_quotes(name) if method else name_needs_quotes(name)
    return exp.Identifier(this=name, quoted=quoted)


def _route_node(route: Route) -> nodes.MotionRoute:
    for clause in ("infer", "fit"):
        if getattr(route, clause) is not None and getattr(route, f"no_{clause}"):
            raise ValueError(f"a route cannot have both {clause.upper()} and NO {clause.upper()}")
    if route.columns is not None:
        if not route.columns:
            raise ValueError("a column list cannot be empty (use None for no column list)")
        if len(set(route.columns)) != len(route.columns):
            raise ValueError(f"duplicate columns in {route.columns!r}")
    relation = route.relation
    table = exp.Table(this=_identifier(relation.name))
    if relation.schema is not None:
        table.set("db", _identifier(relation.schema))
    return nodes.MotionRoute(
        this=table,
        columns=[_identifier(c) for c in route.columns] if route.columns else None,
        infer=_identifier(route.infer, method=True) if route.infer is not None else None,
        fit=_identifier(route.fit, method=True) if route.fit is not None else None,
        no_infer=route.no_infer,
        no_fit=route.no_fit,
    )


def _schedule_node(schedule: Schedule) -> nodes.MotionSchedule:
    return nodes.MotionSchedule(
        this=exp.Literal.string(_text(schedule.cron, "a cron expression")),
        fit=_identifier(schedule.fit, method=True) if schedule.fit is not None else None,
    )


def _experiment_node(experiment: Experiment | None) -> nodes.MotionExperiment | None:
    if experiment is None:
        return None
    if experiment.kind not in ("shadow", "canary"):
        raise ValueError(f"an experiment is a shadow or a canary, not {experiment.kind!r}")
    node = nodes.MotionExperiment(this=_identifier(experiment.baseline), kind=experiment.kind)
    if experiment.kind == "canary":
        percent = experiment.percent
        if (
            isinstance(percent, bool)
            or not isinstance(percent, int | float)
            or not 0 < percent < 100
        ):
            raise ValueError(f"a canary's percent is between 0 and 100, not {percent!r}")
        node.set("percent", exp.Literal.number(f"{percent:g}"))
    elif experiment.percent is not None:
        raise ValueError("a shadow has no percent")
    return node


def _policy_node(policy: Policy) -> nodes.MotionPolicy | None:
    if not policy:
        return None

    def conditions(items: tuple[Condition, ...]) -> list[nodes.MotionCondition] | None:
        for c in items:
            if c.kind.upper() not in CONDITIONS:
                raise ValueError(f"unknown policy condition {c.kind!r}")
        return [
            nodes.MotionCondition(this=c.kind, expression=_condition_literal(c)) for c in items
        ] or None

    every = policy.refit_every
    return nodes.MotionPolicy(
        fit=conditions(policy.fit_when),
        refit=conditions(policy.refit_when),
        refit_every=_condition_literal(every) if every is not None else None,
    )


def _condition_literal(condition: Condition) -> exp.Literal:
    if condition.kind in ("after", "every"):
        return exp.Literal.string(condition.text or f"{condition.value!r} seconds")
    if condition.kind == "count":
        return exp.Literal(this=str(int(condition.value)), is_string=False)
    return exp.Literal(this=repr(condition.value), is_string=False)


def _param_nodes(params: dict[str, Literal]) -> list[nodes.MotionParam]:
    return [
        nodes.MotionParam(this=_identifier(name), expression=nodes.literal_node(value))
        for name, value in params.items()
    ]


def _alter_node(statement: AlterMotionTrigger) -> nodes.MotionAlter:
    node = nodes.MotionAlter(this=_identifier(statement.name))
    action = statement.action
    if isinstance(action, SetParams):
        if not action.params:
            raise ValueError("SET needs at least one param")
        node.set("action", "set")
        node.set("params", _param_nodes(action.params))
    elif isinstance(action, RollbackToVersion):
        if isinstance(action.version, bool) or action.version < 1:
            raise ValueError(f"version numbers start at 1, not {action.version!r}")
        node.set("action", "rollback")
        node.set("version", exp.Literal.number(action.version))
    elif isinstance(action, PinVersion):
        if isinstance(action.version, bool) or action.version < 1:
            raise ValueError(f"version numbers start at 1, not {action.version!r}")
        node.set("action", "pin")
        node.set("version", exp.Literal.number(action.version))
    elif isinstance(action, Unpin):
        node.set("action", "unpin")
    elif isinstance(action, Promote):
        node.set("action", "promote")
    elif isinstance(action, Refit):
        node.set("action", "refit")
    elif isinstance(action, Reload):
        node.set("action", "reload")
    elif isinstance(action, SetEnabled):
        node.set("action", "enable" if action.enabled else "disable")
    elif isinstance(action, Backfill):
        node.set("action", "backfill")
        node.set("stale", action.stale or None)
        if action.where is not None:
            if not _text(action.where, "a WHERE condition").strip():
                raise ValueError("a WHERE condition cannot be empty")
            node.set("where", exp.Literal.string(action.where))
    else:
        raise ValueError(f"unknown ALTER action {action!r}")
    return node
