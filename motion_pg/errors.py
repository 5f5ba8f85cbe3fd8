"""The exception hierarchy of motion_pg.

Every error the package raises derives from :class:`MotionError`. Each class's docstring is its
default message, so ``raise UnknownTrigger()`` still says something useful; pass a message with the
context (names, positions) whenever there is one. Messages follow psycopg's style: lowercase, no
trailing period, and they say what to do when that is not obvious.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn


class MotionError(Exception):
    """motion_pg failed"""

    # the SQLSTATE the server raises this error with (class MP: motion_pg's own); a client maps it
    # back with :func:`from_sqlstate`, so ``except UnknownTrigger`` works across the server boundary
    sqlstate: ClassVar[str] = "MP000"

    def __init__(self, message: str | None = None, *, hint: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or "").strip()
        self.hint = hint
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class MotionSyntaxError(MotionError):
    """syntax error in a motion statement"""

    sqlstate = "MP001"

    def __init__(
        self,
        message: str | None = None,
        *,
        line: int = 1,
        col: int = 1,
        token: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.line = line
        self.col = col
        self.token = token
        base = message or (type(self).__doc__ or "").strip()
        where = f" at line {line}, column {col}"
        if token is not None:
            where += f" near {token!r}"
        super().__init__(base + where, hint=hint)

    def shifted(self, lines: int, cols: int) -> MotionSyntaxError:
        """The same error with its position moved by a statement's offset inside a file."""
        message = self.message.rsplit(" at line ", 1)[0]
        return MotionSyntaxError(
            message,
            line=self.line + lines,
            col=self.col + (cols if self.line == 1 else 0),
            token=self.token,
            hint=self.hint,
        )


class DefinitionError(MotionError):
    """invalid motion trigger definition"""

    sqlstate = "MP100"


class UnknownTrigger(DefinitionError):
    """motion trigger does not exist"""

    sqlstate = "MP101"


UNKNOWN_TRIGGER_HINT = "see the triggers with SHOW MOTION TRIGGERS"


def unknown_trigger(name: str) -> UnknownTrigger:
    """The error for a motion trigger ``name`` that does not exist: one message and hint wherever
    it is raised (the functions written in SQL raise the same through ``motion._unknown_trigger``,
    sql/idempotent/280-debts.sql)."""
    return UnknownTrigger(f'motion trigger "{name}" does not exist', hint=UNKNOWN_TRIGGER_HINT)


def raise_in_server(plpy: Any, error: MotionError) -> NoReturn:
    """Raise ``error`` from PL/Python code as a server error with its SQLSTATE and hint (a client
    maps it back with :func:`from_sqlstate`)."""
    extra = {"hint": error.hint} if error.hint else {}  # hint=None would print "HINT: None"
    plpy.error(error.message, sqlstate=error.sqlstate, **extra)
    raise error  # plpy.error raised already


class DuplicateTrigger(DefinitionError):
    """motion trigger already exists"""

    sqlstate = "MP102"


class UnknownRelation(DefinitionError):
    """relation does not exist"""

    sqlstate = "MP103"


class UnknownColumn(DefinitionError):
    """column does not exist"""

    sqlstate = "MP104"


class InvalidSetting(DefinitionError):
    """invalid motion trigger setting"""

    sqlstate = "MP105"


class UserCodeError(MotionError):
    """the trigger class could not be loaded or used"""

    sqlstate = "MP200"


class InferError(MotionError):
    """infer failed"""

    sqlstate = "MP300"


class FitError(MotionError):
    """fit failed"""

    sqlstate = "MP400"


class InstallError(MotionError):
    """motion_pg is not installed in this database"""

    sqlstate = "MP500"


class EmbeddedDatabaseError(MotionError):
    """the embedded database could not be managed"""

    sqlstate = "MP501"


def _subclasses(cls: type[MotionError]) -> list[type[MotionError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def from_sqlstate(sqlstate: str | None) -> type[MotionError] | None:
    """The motion_pg error class a server error's SQLSTATE stands for, or None."""
    for cls in _subclasses(MotionError):
        if cls.sqlstate == sqlstate:
            return cls
    return None
