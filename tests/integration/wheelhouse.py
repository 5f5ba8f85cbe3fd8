"""Offline wheels for a fresh virtualenv: the project's wheel, built here, and its dependencies,
packed again from the distributions the project's virtualenv already has installed.

Nothing is downloaded: the build uses the virtualenv's hatchling (no build isolation), and each
dependency's wheel is rebuilt from the files its RECORD lists, so ``pip install --no-index
--find-links`` installs the very versions the test suite runs with.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def build_project_wheel(root: Path, out: Path) -> Path:
    """``pip wheel`` of the checkout at ``root`` into ``out``, offline; returns the wheel."""
    try:
        import hatchling  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "hatchling is missing from the virtualenv: `make setup` installs the dev dependencies"
        ) from None
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out), str(root)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"building the wheel failed:\n{result.stdout}\n{result.stderr}")
    (wheel,) = out.glob("motion_pg-*.whl")
    return wheel


def requirements_of(wheel: Path) -> list[Requirement]:
    """The ``Requires-Dist`` of ``wheel`` that apply without extras."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(name).decode())
    reqs = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(reqs: list[Requirement]) -> list[metadata.Distribution]:
    """The installed distributions ``reqs`` need, with their own requirements (and extras)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(r, "") for r in reqs]
    for r in reqs:
        todo += [(r, extra) for extra in r.extras]
    while todo:
        req, extra = todo.pop()
        dist = metadata.distribution(req.name)
        key = f"{canonicalize_name(req.name)}[{extra}]"
        if key in found:
            continue
        found[key] = dist
        for raw in dist.requires or []:
            sub = Requirement(raw)
            if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                todo += [(sub, ""), *((sub, e) for e in sub.extras)]
    by_name = {canonicalize_name(d.metadata["Name"]): d for d in found.values()}
    return list(by_name.values())


def _hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """A wheel of installed ``dist`` from the files its RECORD lists (scripts are left to pip)."""
    info = next(
        f for f in dist.files or [] if f.name == "WHEEL" and f.parent.name.endswith(".dist-info")
    )
    # every tag the wheel declares (tzdata's are py2-none-any and py3-none-any: a name with the
    # first alone is refused by a Python 3 pip), compressed as in a wheel's file name
    tags = [line.split(":", 1)[1].strip().split("-") for line in info.read_text().splitlines()
            if line.startswith("Tag:")]  # fmt: skip
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    target = out / f"{name}-{dist.version}-{tag}.whl"
    record: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in dist.files or []:
            path = str(f)
            in_info = f.parent.name.endswith(".dist-info")
            if path.startswith("..") or "__pycache__" in f.parts or (in_info and f.name in _SKIP):
                continue
            data = Path(f.locate()).read_bytes()
            z.writestr(path, data)
            record.append(f"{path},{_hash(data)},{len(data)}")
        record_name = f"{info.parent}/RECORD"
        record.append(f"{record_name},,")
        z.writestr(record_name, "\n".join(record) + "\n")
    return target


def wheelhouse(root: Path, out: Path, extra: Sequence[str] = ()) -> Path:
    """``out`` filled with the project's wheel and every wheel it and ``extra`` (requirements,
    e.g. ``pytest``) need; returns the project's."""
    out.mkdir(parents=True, exist_ok=True)
    wheel = build_project_wheel(root, out)
    for dist in closure([*requirements_of(wheel), *(Requirement(r) for r in extra)]):
        repack(dist, out)
    return wheel
