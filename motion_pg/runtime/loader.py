"""Finding the user's trigger class from ``'package.module:ClassName'``."""

from __future__ import annotations

import importlib
import re
import sys
import traceback
from typing import Any

from motion_pg.errors import UserCodeError
from motion_pg.trigger import Trigger

_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


def load_class(class_ref: str, *, reload: bool = False) -> type[Trigger]:
    """The class named by ``class_ref``; errors name the module, the class and the import path.

    ``reload`` re-imports the module (CREATE OR REPLACE picks up edited code in a long session).
    """
    if not _REF.match(class_ref):
        raise UserCodeError(
            f"invalid class reference {class_ref!r}",
            hint="write USING 'package.module:ClassName'",
        )
    module_name, class_name = class_ref.split(":")
    try:
        module = importlib.import_module(module_name)
        if reload:
            module = importlib.reload(module)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise UserCodeError(
                f"module {module_name!r} not found (python path: {', '.join(sys.path[:6])}…)",
                hint="record the application's directory with `motion-pg install --path DIR`; "
                "the database server's OS user must be able to read it",
            ) from e
        raise _import_failed(module_name, e) from e
    except Exception as e:
        raise _import_failed(module_name, e) from e
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UserCodeError(f"module {module_name!r} has no class {class_name!r}")
    if not isinstance(cls, type):
        raise UserCodeError(f"{class_ref!r} is not a class but a {type(cls).__name__}")
    return cls


def _import_failed(module_name: str, e: BaseException) -> UserCodeError:
    last = traceback.format_exception(e)[-3:]
    return UserCodeError(
        f"module {module_name!r} failed to import: {type(e).__name__}: {e}",
        hint="fix the module; the import error was:\n" + "".join(last).rstrip(),
    )


def instantiate(cls: type[Trigger], class_ref: str) -> Trigger:
    """An instance of the user's class, created without arguments."""
    try:
        return cls()
    except Exception as e:
        raise UserCodeError(
            f"class {class_ref!r} could not be created: {type(e).__name__}: {e}",
            hint="trigger classes are created without arguments; read params from ctx.params",
        ) from e


def method(instance: Any, name: str, class_ref: str) -> Any:
    """A bound method of the user's instance, or a clear error when it is missing."""
    found = getattr(instance, name, None)
    if found is None or not callable(found):
        raise UserCodeError(f"class {class_ref!r} has no method {name!r}")
    return found
