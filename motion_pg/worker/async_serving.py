"""A trigger as the worker serves it to async infer: class, routes, serving state and params.

The same values the backend's infer would use (:mod:`motion_pg.runtime.backend`): the serving
version (a pin holds it), the params and settings recorded for that version, the deployed code
(re-imported after a deploy, refused when the code on this host differs) and the deploy in force
for the lineage stamps. Cached per (revision, deploy, serving version): an unchanged trigger costs
two small queries per batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from psycopg import sql

from motion_pg.errors import InferError, UserCodeError
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.runtime import identity, loader
from motion_pg.runtime.state import BlobCache
from motion_pg.runtime.values import Column, Converter, converter
from motion_pg.settings import Settings
from motion_pg.trigger import RouteInfo, Trigger
from motion_pg.worker.shared_cache import WorkerSource


@dataclass
class AsyncRoute:
    """One async route: where its rows live and how its outputs are checked and stamped."""

    info: RouteInfo
    table: sql.Identifier
    key_columns: list[str]
    columns: dict[str, Column]
    converters: dict[str, Converter]
    lineage_column: str | None = None
    hidden: frozenset[str] = frozenset()
    attnums: dict[str, int] = field(default_factory=dict)


@dataclass
class Served:
    """A trigger ready to infer in the worker."""

    name: str
    revision: int
    deploy_id: int
    version: int
    instance: Trigger
    class_ref: str
    params: Mapping[str, Any]
    settings: Settings
    state: Mapping[str, Any]
    search_path: list[str] | None
    routes: dict[int, AsyncRoute]


class ServedTriggers:
    """Loads and caches :class:`Served` triggers for one worker connection."""

    def __init__(self) -> None:
        self._cache: dict[str, Served] = {}
        self._blobs = BlobCache(WorkerSource())  # large values: the host's shared cache

    def get(self, db: PgDatabase, name: str) -> Served | None:
        """Trigger ``name`` as it serves now, or None when it no longer exists."""
        rows = db.query(query("trigger_definition"), [name])
        if not rows:
            self._cache.pop(name, None)
            return None
        row = rows[0]
        deploy_id = int(db.query(query("deploy_in_force"), [name])[0]["id"])
        version = int(row["serving_version"] or 0)
        cached = self._cache.get(name)
        if cached is not None and (cached.revision, cached.deploy_id) == (
            row["revision"],
            deploy_id,
        ):
            if cached.version != version:
                self._set_state(db, cached, version)
            return cached
        self._cache.pop(name, None)
        deployed = db.query(query("trigger_code"), [name])[0]["code_digest"]
        try:
            identity.ensure(name, row["class_ref"], deployed, where="this worker")
        except UserCodeError as e:
            raise InferError(e.message, hint=e.hint) from None
        instance = loader.instantiate(loader.load_class(row["class_ref"]), row["class_ref"])
        served = Served(
            name=name, revision=row["revision"], deploy_id=deploy_id, version=-1,
            instance=instance, class_ref=row["class_ref"], params=MappingProxyType({}),
            settings=Settings.from_json(row["settings"]), state=MappingProxyType({}),
            search_path=row["search_path"], routes=_routes(db, name),
        )  # fmt: skip
        self._set_state(db, served, version)
        self._cache[name] = served
        return served

    def _set_state(self, db: PgDatabase, served: Served, version: int) -> None:
        served.version, served.state = -1, MappingProxyType({})
        if version:
            served.state = self._blobs.load(db, served.name, version)
            recorded = db.query(query("version_config"), [served.name, version])
            if recorded:
                raw = recorded[0]["params"]
                served.params = MappingProxyType(json.loads(raw) if isinstance(raw, str) else raw)
                served.settings = Settings.from_json(recorded[0]["settings"])
        served.version = version


def _routes(db: PgDatabase, name: str) -> dict[int, AsyncRoute]:
    routes: dict[int, AsyncRoute] = {}
    for r in db.query(query("trigger_routes"), [name]):
        if r["infer_method"] is None:
            continue
        names = db.query(query("async_relation_names"), [r["relid"]])
        if not names:
            continue
        columns = [Column.from_row(c) for c in db.query(query("relation_columns"), [r["relid"]])]
        info = RouteInfo(
            ordinal=r["ordinal"], relation=r["relation"],
            columns=tuple(r["columns"]) if r["columns"] is not None else None,
            infer=r["infer_method"], fit=r["fit_method"],
        )  # fmt: skip
        route = AsyncRoute(
            info=info, table=sql.Identifier(names[0]["schema"], names[0]["name"]),
            key_columns=list(r["key_columns"]), columns={c.name: c for c in columns},
            converters={c.name: converter(c) for c in columns},
        )  # fmt: skip
        found = db.query(query("route_lineage"), [name, r["ordinal"]])
        if found:
            route.lineage_column = found[0]["lineage_column"]
            route.hidden = frozenset(found[0]["hidden"] or ())
            raw = found[0]["attnums"]
            attnums = json.loads(raw) if isinstance(raw, str) else (raw or {})
            route.attnums = {str(k): int(v) for k, v in attnums.items()}
        routes[info.ordinal] = route
    return routes
