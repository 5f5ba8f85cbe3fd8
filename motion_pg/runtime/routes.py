"""What a backend caches per motion trigger: the loaded trigger and its routes.

:mod:`motion_pg.runtime.backend` builds these; :mod:`motion_pg.runtime.outputs` and
:mod:`motion_pg.runtime.batch` read them. This module imports neither, so none of them imports a
module that imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from motion_pg.runtime import stamps
from motion_pg.runtime.keyed import KeyCache
from motion_pg.runtime.values import INT_BOUNDS, Column, Converter, converter
from motion_pg.settings import Settings
from motion_pg.trigger import Context, RouteInfo, Trigger

InferMethod = Callable[[dict[str, Any], Context], Any]
BatchMethod = Callable[[list[dict[str, Any]], Context], Any]

# column types whose values of exactly this Python type pass unconverted (the hot path); integers
# are range-checked there too (INT_BOUNDS)
_EXACT = {"int2": int, "int4": int, "int8": int, "float8": float, "bool": bool}


@dataclass(frozen=True)
class Role:
    """What a loaded trigger does in experiments: ``kind`` is ``'shadow'`` or ``'canary'`` when it
    is an experiment (``percent`` for a canary); ``canary`` the percent of a canary against it,
    ``shadowed`` whether a shadow runs against it (then its served outputs are recorded); ``salt``
    the canary's secret split salt (None: an experiment made before 0.5, split unsalted)."""

    kind: str | None = None
    percent: float | None = None
    canary: float | None = None
    shadowed: bool = False
    salt: str | None = None


@dataclass
class Route:
    """One route of a loaded trigger, ready to infer: its method, columns and converters."""

    info: RouteInfo
    method: InferMethod | None  # the bound infer method (or infer_batch on one row)
    columns: dict[str, Column]
    converters: dict[str, Converter]
    key_columns: list[str]
    ctx: Context
    batch: BatchMethod | None = None  # the bound infer_batch method, when the class defines one
    exact: dict[str, type] = field(default_factory=dict)  # values of this type need no converting
    bounds: dict[str, int] = field(default_factory=dict)  # integer columns: -bound <= v < bound
    relid: str = ""  # the routed relation (TD["relid"] of the triggers motion made for the route)
    pg_triggers: frozenset[str] = frozenset()  # the Postgres triggers motion made for the route
    partitions: set[str] = field(default_factory=set)  # partitions of relid seen firing the route
    # lineage (motion_pg.runtime.stamps): the route's lineage column, the lineage columns of every
    # motion trigger on the relation (infer never sees them) and the relation's attnums
    lineage_column: str | None = None
    hidden: tuple[str, ...] = ()
    hide: str | None = None  # hidden's one column, when it has exactly one (the row path's case)
    attnums: dict[str, int] = field(default_factory=dict)
    stamp_column: str | None = None  # lineage_column while the served settings say lineage = true
    stamp: bytes = b""  # this statement's stamp head (set per statement by check_serving)
    masks: dict[tuple[str, ...], bytes] = field(default_factory=dict)  # column masks by keys
    stamped: dict[tuple[str, ...], bytes] = field(default_factory=dict)  # this statement's stamps
    # the hot path's shortcut: the one column the statement's last row wrote, and its stamp
    one_key: str | None = None
    one_stamp: bytes = b""

    def start_statement(self, stamp: bytes) -> None:
        """Stamp the rows of a new statement with ``stamp`` (a head, :func:`stamps.head`)."""
        self.stamp = stamp
        self.stamped = {}
        self.one_key = None

    def stamp_for(self, out: Mapping[str, Any]) -> bytes:
        """This statement's stamp for a row whose outputs are ``out`` (the hot path first checks
        :attr:`one_key`: a row that wrote exactly that one column gets :attr:`one_stamp`)."""
        keys = tuple(out)
        found = self.stamped.get(keys)
        if found is None:
            mask = self.masks.get(keys)
            if mask is None:
                attnums = self.attnums
                mask = self.masks[keys] = stamps.mask(attnums[c] for c in keys if c in attnums)
            found = self.stamped[keys] = self.stamp + mask
        if len(keys) == 1:
            self.one_key, self.one_stamp = keys[0], found
        return found

    def visible(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` as infer sees it: without lineage columns."""
        copy = dict(row)
        for c in self.hidden:
            copy.pop(c, None)
        return copy

    @classmethod
    def build(
        cls,
        info: RouteInfo,
        method: InferMethod | None,
        columns: list[Column],
        key_columns: list[str],
        ctx: Context,
        batch: BatchMethod | None,
        *,
        relid: str,
        pg_triggers: frozenset[str],
    ) -> Route:
        """A route over ``columns`` (in the relation's order), made for relation ``relid`` and the
        Postgres triggers ``pg_triggers``."""
        return cls(
            info, method, {c.name: c for c in columns},
            {c.name: converter(c) for c in columns}, key_columns, ctx, batch,
            exact={c.name: _EXACT[c.type_name] for c in columns if c.type_name in _EXACT},
            bounds={c.name: INT_BOUNDS[c.type_name] for c in columns
                    if c.type_name in INT_BOUNDS},
            relid=relid, pg_triggers=pg_triggers,
        )  # fmt: skip


@dataclass
class LoadedTrigger:
    """A motion trigger as this backend serves it: class instance, settings, state and routes."""

    name: str
    revision: int
    version: int
    enabled: bool
    class_ref: str
    instance: Trigger
    params: Mapping[str, Any]
    settings: Settings
    state: Mapping[str, Any]
    routes: dict[int, Route] = field(default_factory=dict)
    deploy_id: int = 0  # the deploy in force (motion.deploys.id), for lineage stamps
    token: str = ""  # "revision:serving_version:enabled" as loaded; see backend.check_serving
    # each route by the Postgres triggers motion made for it, with the arguments they pass: the
    # per-row check that the caller is one of them is one dict lookup and two compares
    by_pg_trigger: dict[str, tuple[Route, list[str]]] = field(default_factory=dict)
    experiment: Role | None = None  # its part in live experiments (motion_pg.runtime.experiments)
    keyed: KeyCache | None = None  # STATE PER: the states of the keys this backend inferred


def one_row(batch: BatchMethod) -> InferMethod:
    """Row mode for a class that defines only ``infer_batch``: a batch of one row."""

    def infer(row: dict[str, Any], ctx: Context) -> Any:
        out = batch([row], ctx)
        if not isinstance(out, list | tuple) or len(out) != 1:
            got = f"{len(out)} items" if isinstance(out, list | tuple) else type(out).__name__
            raise TypeError(
                f"infer_batch must return a list with one dict per row (1 row, got {got})"
            )
        return out[0]

    return infer
