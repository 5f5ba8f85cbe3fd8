"""A trigger module that fails to import, as a module with a missing dependency does."""

import motion_pg_missing_dependency  # noqa: F401

import motion_pg


class Broken(motion_pg.Trigger):
    pass
