"""The pytest plugin's options and fixtures (loaded as ``motion_pg.testing``).

ini options (``[tool.pytest.ini_options]`` or ``pytest.ini``):

- ``motion_pg_paths``: directories, relative to the ini file, the database server imports trigger
  modules from (default: the rootdir); the ``motion_pg`` under test and the virtualenv always come
  first.
- ``motion_pg_extension``: ``direct`` (default) applies the installed motion_pg's SQL; ``build``
  writes its extension files into the server's extension directory (when it may) and installs the
  ``motion`` extension.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from motion_pg.embedded import Cluster
from motion_pg.testing import databases

TEMPLATE = "motion_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The kit's ini options."""
    parser.addini(
        "motion_pg_paths",
        "directories the database server imports trigger modules from (default: the rootdir)",
        type="paths",
        default=[],
    )
    parser.addini(
        "motion_pg_extension",
        "direct (apply motion_pg's SQL) or build (install its extension files, then the extension)",
        default="direct",
    )


@pytest.fixture(scope="session")
def motion_import_paths(pytestconfig: pytest.Config) -> list[str]:
    """Where the test server imports Python from (override to change)."""
    extra = cast(list[Path], pytestconfig.getini("motion_pg_paths")) or [pytestconfig.rootpath]
    return databases.package_paths(extra)


@pytest.fixture(scope="session")
def motion_cluster() -> Iterator[Cluster]:
    """A real PostgreSQL 15 started for the session (as the ``postgres`` OS user when root)."""
    with databases.throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def motion_template(
    motion_cluster: Cluster, motion_import_paths: list[str], pytestconfig: pytest.Config
) -> Iterator[str]:
    """A template database with plpython3u, vector and the motion schema installed."""
    mode = str(pytestconfig.getini("motion_pg_extension"))
    if mode not in ("direct", "build"):
        raise pytest.UsageError(f"motion_pg_extension must be direct or build, not {mode!r}")
    databases.create_template(motion_cluster, TEMPLATE, motion_import_paths, mode)  # type: ignore[arg-type]
    yield TEMPLATE
    databases.drop_database(motion_cluster, TEMPLATE)


@pytest.fixture
def motion_dsn(motion_cluster: Cluster, motion_template: str) -> Iterator[str]:
    """A fresh database for one test, copied from the template: motion is installed."""
    with databases.cloned_database(motion_cluster, motion_template) as dsn:
        yield dsn


@pytest.fixture
def motion_conn(motion_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database, as a superuser."""
    with databases.connect(motion_dsn) as conn:
        yield conn
