"""``motion-pg init``: the scaffolded application's own tests pass, run as its author would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir() -> Iterator[Path]:
    # the generated project's test server (the `postgres` OS user when root) imports from it
    path = Path(tempfile.mkdtemp(prefix="motion-pg-init-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # the checkout under test, whichever checkout the virtualenv's editable install points at
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"{argv} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.mark.parametrize("alembic", [False, True], ids=["sql", "alembic"])
def test_init_then_the_generated_tests_pass(workdir: Path, alembic: bool) -> None:
    out = _run(
        [
            sys.executable,
            "-m",
            "motion_pg.cli",
            "init",
            "shop_scores",
            *(["--alembic"] if alembic else []),
        ],
        cwd=workdir,
    )
    project = workdir / "shop_scores"
    assert "motion-pg install --path ." in out.stdout
    assert (project / "shop_scores" / "triggers.py").is_file()
    readme = (project / "README.md").read_text()
    migration = (
        "alembic upgrade head" if alembic else "motion-pg apply migrations/001_shop_scores.sql"
    )
    assert migration in readme and "motion-pg worker" in readme
    for path in [project, *project.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055)

    tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert "1 passed" in tests.stdout, tests.stdout
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.is_file():  # the code a user starts from is clean
        _run([str(ruff), "check", "--select", "E,F,W,I,B,UP", "."], cwd=project)


def test_init_refuses_a_bad_name_or_a_used_directory(workdir: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", "init", "Shop-Scores"],
        cwd=workdir, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert bad.returncode == 2 and "not a usable name" in bad.stderr, bad.stderr
    (workdir / "taken").mkdir()
    (workdir / "taken" / "file").write_text("x")
    used = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", "init", "taken"],
        cwd=workdir, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert used.returncode == 1 and "already exists and is not empty" in used.stderr, used.stderr
