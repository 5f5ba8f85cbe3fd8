"""A test kit for motion applications: a pytest plugin and helpers.

Installed with motion_pg, the plugin (entry point ``pytest11``: ``motion_pg.testing``) gives:

- ``motion_conn``: an autocommit connection to a fresh database with motion installed, copied per
  test from a template made once per session on a throwaway PostgreSQL 15 (``motion_dsn``: its
  DSN; ``motion_cluster``: the server; ``motion_template``: the template's name);
- ``pytest --motion-dsn DSN`` (or ``$MOTION_PG_TEST_DSN``): the same on an existing server,
  no cluster started (``motion_server``: the server in use);
- :func:`fit_pending`: run the pending fits now, as ``motion-pg worker --once`` does;
- :func:`assert_version`, :func:`serving_version`, :func:`versions`: the versions of a trigger.

See docs/testing.md.
"""

from __future__ import annotations

from motion_pg.testing.fits import FitFailed, assert_version, fit_pending, serving_version, versions
from motion_pg.testing.plugin import (
    motion_cluster,
    motion_conn,
    motion_dsn,
    motion_import_paths,
    motion_server,
    motion_template,
    pytest_addoption,
)

__all__ = [
    "FitFailed",
    "assert_version",
    "fit_pending",
    "motion_cluster",
    "motion_conn",
    "motion_dsn",
    "motion_import_paths",
    "motion_server",
    "motion_template",
    "pytest_addoption",
    "serving_version",
    "versions",
]
