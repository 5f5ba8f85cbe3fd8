"""The managed install script: the full script without PL/Python (no database needed)."""

from __future__ import annotations

import re

from motion_pg import extension as ext
from motion_pg.managed_schema import managed_sql


def test_the_managed_script_has_no_plpython() -> None:
    full = ext.full_script(ext.current_version(), "direct")
    assert "plpython3u" in full
    managed = managed_sql(full)
    assert not re.search(r"LANGUAGE\s+plpython3u", managed, re.I)
    assert "motion._bootstrap" not in managed  # nor a statement naming a left-out function
    for kept in ("motion.async_record()", "motion.enqueue_statement()", "motion.lineage_guard()"):
        assert f"CREATE OR REPLACE FUNCTION {kept}" in managed


def test_the_stand_ins_answer_no_and_exec_says_how() -> None:
    managed = managed_sql(ext.full_script(ext.current_version(), "direct"))
    assert "FUNCTION motion._writing_back(relid oid) RETURNS boolean" in managed
    assert "FUNCTION motion._lineage_accept(" in managed
    assert "motion-pg exec" in managed
