"""What a motion statement means, independent of how it was spelled.

The parser turns DSL text into these frozen dataclasses; the compiler consumes them. Identifiers are
already normalized by Postgres rules: unquoted names are lowercased, quoted names are kept as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from motion_pg.policy import Policy

Literal = str | int | float | bool | None


@dataclass(frozen=True)
class RelationName:
    """A possibly schema-qualified relation name."""

    name: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Route:
    """``ON relation [(cols)] [INFER m | NO INFER] [FIT m | NO FIT]``.

    ``infer``/``fit`` name a method; ``None`` means the class's default method (``infer``/``fit``)
    if the class defines it. ``no_infer``/``no_fit`` are the explicit ``NO INFER``/``NO FIT``.
    ``columns`` is ``None`` when the route has no column list (it fires on any UPDATE).
    """

    relation: RelationName
    columns: tuple[str, ...] | None = None
    infer: str | None = None
    fit: str | None = None
    no_infer: bool = False
    no_fit: bool = False


@dataclass(frozen=True)
class Schedule:
    """``ON SCHEDULE 'cron expression' [FIT m]``: a scheduled route.

    The worker calls fit method ``fit`` (``None``: the class's ``fit``) with one schedule event (op
    ``'SCHEDULE'``, no row) per period of ``cron``. The text holds the expression as written; it is
    checked at CREATE (:mod:`motion_pg.cron`), not by the parser.
    """

    cron: str
    fit: str | None = None


@dataclass(frozen=True)
class Experiment:
    """``SHADOW OF baseline`` or ``CANARY OF baseline (percent)``: a live experiment.

    A shadow infers on the baseline's rows into shadow records, never into the row; a canary's
    outputs go into the row for ``percent`` % of the keys (a hash of the row key).
    """

    kind: str  # 'shadow' or 'canary'
    baseline: str
    percent: float | None = None  # canary only: 0 < percent < 100


@dataclass(frozen=True)
class CreateMotionTrigger:
    """``CREATE MOTION TRIGGER``: at least one route or schedule. Schedules come after the relation
    routes in the canonical text and in route ordinals, wherever they were written."""

    name: str
    routes: tuple[Route, ...]
    using: str  # 'package.module:ClassName'
    params: dict[str, Literal] = field(default_factory=dict)
    or_replace: bool = False
    if_not_exists: bool = False
    schedules: tuple[Schedule, ...] = ()
    state_per: tuple[str, ...] | None = None  # STATE PER (columns): one state per key
    experiment: Experiment | None = None
    policy: Policy = field(default_factory=Policy)  # FIT WHEN / REFIT clauses


@dataclass(frozen=True)
class DropMotionTrigger:
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class SetParams:
    params: dict[str, Literal]


@dataclass(frozen=True)
class RollbackToVersion:
    version: int


@dataclass(frozen=True)
class Refit:
    pass


@dataclass(frozen=True)
class Reload:
    """``RELOAD``: deploy the trigger class's code now on disk."""


@dataclass(frozen=True)
class SetEnabled:
    enabled: bool


@dataclass(frozen=True)
class PinVersion:
    """``PIN VERSION n``: serve version n while fits keep building newer versions behind it."""

    version: int


@dataclass(frozen=True)
class Unpin:
    """``UNPIN``: serve the newest version again."""


@dataclass(frozen=True)
class Promote:
    """``PROMOTE``: a shadow or canary becomes the serving trigger; its baseline its shadow."""


@dataclass(frozen=True)
class Backfill:
    """``BACKFILL [ALL | STALE] [WHERE condition]``: re-infer the rows already stored.

    ``stale``: only rows whose lineage stamp names an older state version or deploy than the
    serving one (or no stamp). ``where``: a SQL condition on the routed relation's columns, kept
    as written.
    """

    stale: bool = False
    where: str | None = None


AlterAction = (
    SetParams
    | RollbackToVersion
    | Refit
    | Reload
    | SetEnabled
    | PinVersion
    | Unpin
    | Promote
    | Backfill
)


@dataclass(frozen=True)
class AlterMotionTrigger:
    name: str
    action: AlterAction


@dataclass(frozen=True)
class ShowMotionTriggers:
    pass


Statement = CreateMotionTrigger | DropMotionTrigger | AlterMotionTrigger | ShowMotionTriggers
