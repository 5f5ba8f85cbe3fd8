"""`motion-pg demo`: the example application end to end, as `make demo` runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .conftest import ROOT


def test_demo_learns_from_corrections() -> None:
    home = Path(tempfile.mkdtemp(prefix="motion-demo-"))
    home.chmod(0o755)
    env = {**os.environ, "MOTION_HOME": str(home / ".motion"), "COLUMNS": "120"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "motion_pg.cli", *args],
            env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
        )  # fmt: skip

    try:
        demo = cli("demo")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        found = re.search(r"before corrections (\d+)/(\d+) right, after (\d+)/\2", demo.stdout)
        assert found is not None, demo.stdout
        before, total, after = (int(g) for g in found.groups())
        assert before < total and after > before
        assert "version 2" in demo.stdout or "2 | fit" in demo.stdout
    finally:
        cli("down", "--destroy")
        subprocess.run(["rm", "-rf", str(home)], check=False)
