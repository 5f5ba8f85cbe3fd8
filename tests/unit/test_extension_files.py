"""The `motion` extension's files, built from sql/ (no database)."""

from __future__ import annotations

from pathlib import Path

from motion_pg import extension as ext


def test_build_writes_control_every_release_and_upgrade(tmp_path: Path) -> None:
    files = {p.name for p in ext.build(tmp_path)}
    assert "motion.control" in files
    for version in ext.releases():
        assert f"motion--{version}.sql" in files
    for source, target in ext.upgrades():
        assert f"motion--{source}--{target}.sql" in files
    control = (tmp_path / "motion.control").read_text()
    assert "requires = 'plpython3u, vector'" in control
    assert "superuser = true" in control and "schema = motion" in control


def test_every_release_upgrades_to_the_current_one() -> None:
    current = ext.current_version()
    assert ext.releases()[-1] == current
    for version in ext.releases():
        steps = ext.upgrade_path(version)
        assert (steps[-1][1] if steps else version) == current


def test_scripts_differ_only_by_their_marked_blocks() -> None:
    current = ext.current_version()
    as_extension = ext.full_script(current, "extension")
    direct = ext.full_script(current, "direct")
    assert "pg_extension_config_dump" in as_extension and "CREATE SCHEMA" not in as_extension
    assert "pg_extension_config_dump" not in direct and "CREATE SCHEMA" in direct
    assert "-only: begin" not in as_extension + direct


def test_schema_version_function_matches_the_control_file() -> None:
    current = ext.current_version()
    assert f"SELECT '{current}'::text" in ext.full_script(current, "direct")
