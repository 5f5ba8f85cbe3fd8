"""The dashboard's pages: one module per page, each adding a :class:`Page` to :data:`PAGES`.

A view another feature brings (comparisons, drift) is a new module here with its ``page``, listed
in :func:`_modules`; its ``available`` check hides its navigation entry where the database lacks
what it needs (the lineage lookup shows only where ``motion.lineage`` exists).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from motion_pg.dashboard.db import Db


def _always(db: Db) -> bool:
    return True


@dataclass(frozen=True)
class Page:
    """A page: its navigation entry, its routes, and whether the database supports it."""

    title: str
    path: str
    routes: list[BaseRoute]
    available: Callable[[Db], bool] = field(default=_always)
    in_nav: bool = True


def _modules() -> list[str]:
    return ["overview", "trigger", "backlog", "jobs", "drift", "compare", "lineage"]


def pages() -> list[Page]:
    """Every page, in navigation order."""
    found = []
    for name in _modules():
        module = importlib.import_module(f"motion_pg.dashboard.pages.{name}")
        found.append(module.page)
    return found


def navigation(db: Db | None) -> list[dict[str, str]]:
    """The navigation entries of the pages this database supports (without a database at hand:
    the pages every database supports)."""
    return [
        {"title": p.title, "path": p.path}
        for p in pages()
        if p.in_nav and (p.available(db) if db is not None else p.available is _always)
    ]
