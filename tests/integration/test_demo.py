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
        text = " ".join(demo.stdout.split())  # rich wraps long lines
        found = re.search(r"again: before (\d+)/(\d+), after (\d+)/\2", text)
        assert found is not None, demo.stdout
        before, total, after = (int(g) for g in found.groups())
        assert before < total and after > before
        # tickets no agent corrected and no fit saw: learning, not memory of the corrected texts
        found = re.search(r"never seen nor corrected: before (\d+)/(\d+), after (\d+)/\2", text)
        assert found is not None, demo.stdout
        before, total, after = (int(g) for g in found.groups())
        assert after > before
        assert "version 2" in demo.stdout or "2 | fit" in demo.stdout
    finally:
        cli("down", "--destroy")
        subprocess.run(["rm", "-rf", str(home)], check=False)
