"""The definition checks of CREATE and the search_path the compiler records (no database)."""

from __future__ import annotations

import pytest

from motion_pg import errors
from motion_pg.compiler import checks
from motion_pg.compiler.session import path_setting, recorded_path
from motion_pg.dsl.spec import RelationName
from motion_pg.trigger import Trigger


def test_names_over_63_bytes_are_refused() -> None:
    checks.check_trigger_name("t" * 63)
    with pytest.raises(errors.DefinitionError, match="64 bytes long"):
        checks.check_trigger_name("t" * 64)
    with pytest.raises(errors.DefinitionError, match="64 bytes long"):  # bytes, not characters
        checks.check_trigger_name("é" * 32)
    with pytest.raises(errors.DefinitionError, match="relation name"):
        checks.check_relation_name("t", RelationName("r" * 64, "s"))


@pytest.mark.parametrize("schema", ["motion", "pg_catalog", "information_schema", "pg_temp_3"])
def test_system_and_temporary_schemas_are_refused(schema: str) -> None:
    with pytest.raises(errors.DefinitionError, match="cannot route"):
        checks.check_relation_schema("t", schema, f"{schema}.x")
    checks.check_relation_schema("t", "motion_app", "motion_app.x")


def test_only_trigger_subclasses_outside_motion_pg_are_classes() -> None:
    with pytest.raises(errors.UserCodeError, match="motion_pg package itself"):
        checks.check_class_ref("motion_pg.errors:MotionError")
    checks.check_class_ref("motion_pgx.app:Model")

    class Mine(Trigger):
        pass

    checks.check_class(Mine, "app:Mine")
    for cls in (Trigger, errors.MotionError, dict):
        with pytest.raises(errors.UserCodeError):
            checks.check_class(cls, "x:Y")


def test_recorded_path_drops_temporary_schemas_and_quotes_names() -> None:
    assert recorded_path(["pg_temp_3", "app", 'we"ird', "pg_toast_temp_3"]) == ["app", 'we"ird']
    assert path_setting(["app", 'we"ird']) == '"app", "we""ird"'
    assert path_setting([]) == "''"
