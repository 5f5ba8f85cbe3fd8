"""Code identity of a trigger class, on a package written into a temp directory (no database)."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import motion_pg
from motion_pg.errors import UserCodeError
from motion_pg.runtime import identity

CLASS = """import numpy
import json
import motion_pg
from . import helpers
from .sub.deep import DEPTH


class Model(motion_pg.Trigger):
    def infer(self, row, ctx):
        return {"out": helpers.VALUE + DEPTH}
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A package ``app_<id>`` with a class module, a helper, a subpackage and an unused module."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / name
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(CLASS)
    (pkg / "helpers.py").write_text("VALUE = 1\n")
    (pkg / "unused.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("DEPTH = 10\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg, name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]
    identity._loaded.pop(f"{name}.model", None)


def test_identity_covers_own_package_modules_and_environment(app: tuple[Path, str]) -> None:
    _, name = app
    code = identity.identify(f"{name}.model:Model")
    assert set(code.modules) == {
        name, f"{name}.model", f"{name}.helpers", f"{name}.sub", f"{name}.sub.deep"
    }  # fmt: skip
    assert code.motion_pg == motion_pg.__version__
    assert code.python == platform.python_version()
    # distributions of the third-party imports; not the standard library, not motion_pg
    assert list(code.distributions) == ["numpy"]
    assert len(code.digest) == 64 and code.short == code.digest[:12]
    assert identity.identify(f"{name}.model:Model") == code  # stable


def test_digest_changes_with_an_imported_module_only(app: tuple[Path, str]) -> None:
    pkg, name = app
    before = identity.identify(f"{name}.model:Model")
    (pkg / "unused.py").write_text("X = 2\n")
    assert identity.identify(f"{name}.model:Model") == before
    (pkg / "sub" / "deep.py").write_text("DEPTH = 20\n")
    after = identity.identify(f"{name}.model:Model")
    assert after.digest != before.digest
    changed = {m for m in after.modules if after.modules[m] != before.modules[m]}
    assert changed == {f"{name}.sub.deep"}


def test_top_level_module_includes_modules_beside_it(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    mod, side = f"top_{uuid.uuid4().hex[:8]}", f"side_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{mod}.py").write_text(f"import os\nimport {side}\nclass M: pass\n")
    (tmp_path / f"{side}.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = identity.identify(f"{mod}:M")
    assert set(code.modules) == {mod, side}
    assert code.distributions == {}


def test_missing_module_is_named(app: tuple[Path, str]) -> None:
    with pytest.raises(UserCodeError, match=r"module 'no_such_app_xyz\.model' not found"):
        identity.identify("no_such_app_xyz.model:Model")


def test_ensure_reloads_the_deployed_code_and_refuses_other_code(
    app: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg, name = app
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as servers and workers run
    ref = f"{name}.model:Model"
    module = importlib.import_module(f"{name}.model")
    v1 = identity.loaded(ref)
    assert identity.ensure("t", ref, v1.digest) == v1
    assert identity.ensure("t", ref, None) is None  # nothing recorded: nothing to compare
    assert module.Model().infer({}, None) == {"out": 11}
    # a helper changes on disk (same size, same second: the stale bytecode must not be used)
    stat = (pkg / "helpers.py").stat()
    (pkg / "helpers.py").write_text("VALUE = 2\n")
    os.utime(pkg / "helpers.py", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    deployed = identity.identify(ref).digest
    assert identity.loaded(ref) == v1  # what this process imported is still v1
    assert identity.ensure("t", ref, deployed).digest == deployed  # type: ignore[union-attr]
    new = importlib.import_module(f"{name}.model")
    assert new.Model().infer({}, None) == {"out": 12}
    # code on disk that is not the deployed code is refused, never run
    with pytest.raises(UserCodeError, match='motion trigger "t": code on this worker differs'):
        identity.ensure("t", ref, v1.digest, where="this worker")


def test_motion_pg_beside_a_top_level_module_is_not_application_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"top_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{mod}.py").write_text("import motion_pg.errors\nclass M: pass\n")
    (tmp_path / "motion_pg").mkdir()
    (tmp_path / "motion_pg" / "__init__.py").write_text("")
    (tmp_path / "motion_pg" / "errors.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert set(identity.identify(f"{mod}:M").modules) == {mod}
