"""Code identity: which code a trigger class is, as a digest of its sources and their environment.

The identity of ``'package.module:ClassName'`` covers the class's module source, the sources of
the modules of its own application that it imports (transitively: modules of the same top-level
package, or for a top-level module, modules beside it), the motion_pg version, the Python version
and the versions of the distributions those modules import. Sources are read from disk through
``sys.path`` without importing anything, so the same function tells a backend what it loaded and
tells ``motion-pg status`` what is on disk now.

A process records the identity of the code it imported (:func:`loaded`); :func:`ensure` reloads
the application's modules when that differs from the deployed digest, and refuses when the code on
disk still differs: old code is never run silently after a deploy.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import motion_pg
from motion_pg.errors import UserCodeError
from motion_pg.runtime import distributions as dists

# the identity of the code each module name was imported with in this process, by class module
_loaded: dict[str, CodeIdentity] = {}


@dataclass(frozen=True)
class CodeIdentity:
    """What a trigger class's code is: ``digest`` covers every other field."""

    digest: str
    modules: dict[str, str] = field(default_factory=dict)  # module name -> sha256 of its source
    motion_pg: str = ""
    python: str = ""
    distributions: dict[str, str] = field(default_factory=dict)  # distribution -> version

    @property
    def short(self) -> str:
        """The first 12 hex digits of the digest, for display."""
        return self.digest[:12]

    def to_json(self) -> dict[str, Any]:
        """A jsonb-able rendering (``motion.triggers.code``, ``motion.deploys.identity``)."""
        return asdict(self)


def identify(class_ref: str) -> CodeIdentity:
    """The identity of the code on disk for ``class_ref`` (``'package.module:ClassName'``)."""
    module_name = class_ref.split(":", 1)[0]
    top = module_name.split(".")[0]
    found = _find(module_name)
    if found is None:
        raise UserCodeError(
            f"module {module_name!r} not found (python path: {', '.join(sys.path[:6])}…)",
            hint="record the application's directory with `motion-pg install --path DIR`",
        )
    root = _root(found, module_name)
    modules: dict[str, str] = {}
    outside: set[str] = set()
    parts = module_name.split(".")
    todo = [".".join(parts[: i + 1]) for i in range(len(parts))]  # its packages run on import too
    while todo:
        name = todo.pop()
        if name in modules:
            continue
        path = _in_app(root, top, module_name, name)
        if path is None:
            outside.add(name.split(".")[0])
            continue
        source = path.read_bytes()
        modules[name] = hashlib.sha256(source).hexdigest()
        is_package = path.name == "__init__.py"
        todo.extend(_imports(source, name, is_package))
    distributions = dists.versions(outside - {top, "motion_pg"})
    body = {
        "modules": dict(sorted(modules.items())),
        "motion_pg": motion_pg.__version__,
        "python": platform.python_version(),
        "distributions": distributions,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return CodeIdentity(digest=digest, **body)  # type: ignore[arg-type]


def loaded(class_ref: str) -> CodeIdentity:
    """The identity of the code this process imported for ``class_ref`` (read from disk the first
    time, i.e. when it was imported)."""
    module_name = class_ref.split(":", 1)[0]
    found = _loaded.get(module_name)
    if found is None:
        found = _loaded[module_name] = identify(class_ref)
    return found


def reload(class_ref: str) -> CodeIdentity:
    """Re-import the application's modules of ``class_ref`` from disk in this process; returns the
    identity of the code now imported."""
    module_name = class_ref.split(":", 1)[0]
    before = _loaded.get(module_name)
    importlib.invalidate_caches()
    dists.forget()  # distributions installed since count as the deployer sees them
    names = set(before.modules) if before else {module_name}
    with contextlib.suppress(UserCodeError):  # not found: the import below says so
        names |= set(identify(class_ref).modules)
    for name in sorted(names, key=lambda n: (n == module_name, -n.count("."), n)):
        module = sys.modules.get(name)
        if module is None:
            continue
        _forget_bytecode(module)
        try:
            importlib.reload(module)
        except Exception as e:
            _loaded.pop(module_name, None)
            raise UserCodeError(
                f"module {name!r} failed to import: {type(e).__name__}: {e}",
                hint="fix the module on disk, then ALTER MOTION TRIGGER … RELOAD",
            ) from e
    identity = _loaded[module_name] = identify(class_ref)
    return identity


def ensure(
    trigger: str, class_ref: str, deployed: str | None, where: str = "this server"
) -> CodeIdentity | None:
    """The identity of the code this process runs for ``trigger``, reloaded from disk when it is
    not the ``deployed`` digest; refuses when the code on disk differs from it too. None when no
    deployed code was recorded (a trigger created before 0.3)."""
    if deployed is None:
        return None
    current = loaded(class_ref)
    if current.digest == deployed:
        return current
    current = reload(class_ref)
    if current.digest != deployed:
        raise UserCodeError(
            f'motion trigger "{trigger}": code on {where} differs from the deployed code of '
            f"{class_ref!r} (deployed {deployed[:12]}, on disk {current.short})",
            hint=f"deploy the code on disk with ALTER MOTION TRIGGER {trigger} RELOAD, or put "
            "the deployed code back",
        )
    return current


def _find(module_name: str) -> Path | None:
    """The source file of ``module_name`` along ``sys.path``, found without importing."""
    parts = module_name.split(".")
    for entry in sys.path:
        base = Path(entry or ".").joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _root(found: Path, module_name: str) -> Path:
    """The ``sys.path`` entry ``found`` (the file of ``module_name``) was found under."""
    depth = module_name.count(".") + (2 if found.name == "__init__.py" else 1)
    root = found
    for _ in range(depth):
        root = root.parent
    return root


def _in_app(root: Path, top: str, class_module: str, name: str) -> Path | None:
    """The source of ``name`` when it belongs to the class's own application, else None."""
    if name.split(".")[0] == "motion_pg":  # its own field; never reloaded as application code
        return None
    if "." not in class_module:  # a top-level module: its application is the modules beside it
        if "site-packages" in root.parts or "dist-packages" in root.parts:
            return None if name != class_module else root / f"{name}.py"
    elif name.split(".")[0] != top:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: bytes, name: str, is_package: bool) -> list[str]:
    """The absolute names of the modules ``source`` (of module ``name``) may import, with their
    parent packages."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    package = name if is_package else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base:
                found.append(base)
                found.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    with_parents: list[str] = []
    for full in found:
        parts = full.split(".")
        with_parents.extend(".".join(parts[: i + 1]) for i in range(len(parts)))
    return with_parents


def _forget_bytecode(module: Any) -> None:
    """Drop the module's cached bytecode: a source rewritten within the same second with the same
    size would otherwise reload the stale .pyc."""
    source = getattr(module, "__file__", None)
    if not source or not source.endswith(".py"):
        return
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        os.unlink(importlib.util.cache_from_source(source))
