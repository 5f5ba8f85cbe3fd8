"""The pytest plugin's options and fixtures (loaded as ``motion_pg.testing``).

ini options (``[tool.pytest.ini_options]`` or ``pytest.ini``):

- ``motion_pg_paths``: directories, relative to the ini file, the database server imports trigger
  modules from (default: the rootdir); the ``motion_pg`` under test and the virtualenv always come
  first.
- ``motion_pg_extension``: ``direct`` (default) applies the installed motion_pg's SQL; ``build``
  writes its extension files into the server's extension directory (when it may) and installs the
  ``motion`` extension.

An existing server instead of a throwaway cluster: ``pytest --motion-dsn DSN`` (or the
environment variable ``MOTION_PG_TEST_DSN``, or the ini option ``motion_pg_dsn``), the DSN of any
database on it. No cluster is started: the session makes its template database there (named
``motion_template_<random>``, so sessions running at once do not collide), each test a copy of it,
and drops them all at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from motion_pg.embedded import Cluster
from motion_pg.testing import databases

TEMPLATE = "motion_template"
DSN_VARIABLE = "MOTION_PG_TEST_DSN"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The kit's options: ``--motion-dsn``, and its ini options."""
    parser.getgroup("motion_pg").addoption(
        "--motion-dsn",
        dest="motion_dsn",
        default=None,
        help=f"run the tests' databases on the server of this DSN instead of starting a throwaway "
        f"PostgreSQL (default: ${DSN_VARIABLE}, then the ini option motion_pg_dsn)",
    )
    parser.addini(
        "motion_pg_dsn", "DSN of an existing server to run the tests' databases on", default=""
    )
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


def existing_dsn(config: pytest.Config) -> str | None:
    """The DSN of the existing server to use (``--motion-dsn``, ``$MOTION_PG_TEST_DSN``, the ini
    option ``motion_pg_dsn``), or None: start a throwaway cluster."""
    given = config.getoption("motion_dsn", None) or os.environ.get(DSN_VARIABLE)
    return str(given or config.getini("motion_pg_dsn") or "") or None


@pytest.fixture(scope="session")
def motion_server(request: pytest.FixtureRequest) -> databases.Server:
    """The server the tests' databases are made on: the one ``--motion-dsn`` names, else the
    throwaway ``motion_cluster`` (started only then)."""
    dsn = existing_dsn(request.config)
    if dsn is None:
        return cast(Cluster, request.getfixturevalue("motion_cluster"))
    server = databases.ExistingServer(dsn)
    try:
        with psycopg.connect(dsn, connect_timeout=10):
            pass
    except psycopg.Error as e:
        raise pytest.UsageError(
            f"motion_pg test kit: cannot connect to the server of --motion-dsn "
            f"({server.describe()}): {str(e).strip()}"
        ) from None
    return server


@pytest.fixture(scope="session")
def motion_template(
    motion_server: databases.Server, motion_import_paths: list[str], pytestconfig: pytest.Config
) -> Iterator[str]:
    """A template database with plpython3u, vector and the motion schema installed."""
    mode = str(pytestconfig.getini("motion_pg_extension"))
    if mode not in ("direct", "build"):
        raise pytest.UsageError(f"motion_pg_extension must be direct or build, not {mode!r}")
    # a shared server may run other sessions' tests: a name of this session's own
    shared = isinstance(motion_server, databases.ExistingServer)
    name = f"{TEMPLATE}_{uuid.uuid4().hex[:8]}" if shared else TEMPLATE
    databases.create_template(motion_server, name, motion_import_paths, mode)  # type: ignore[arg-type]
    yield name
    databases.drop_database(motion_server, name)


@pytest.fixture
def motion_dsn(motion_server: databases.Server, motion_template: str) -> Iterator[str]:
    """A fresh database for one test, copied from the template: motion is installed."""
    with databases.cloned_database(motion_server, motion_template) as dsn:
        yield dsn


@pytest.fixture
def motion_conn(motion_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database, as a superuser."""
    with databases.connect(motion_dsn) as conn:
        yield conn
