"""The exception hierarchy of motion_pg.

Every error the package raises derives from :class:`MotionError`. Each class's docstring is its
default message, so ``raise UnknownTrigger()`` still says something useful; pass a message with the
context (names, positions) whenever there is one. Messages follow psycopg's style: lowercase, no
trailing period, and they say what to do when that is not obvious.
"""

from __future__ import annotations


class MotionError(Exception):
    """motion_pg failed"""

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


class UnknownTrigger(DefinitionError):
    """motion trigger does not exist"""


class DuplicateTrigger(DefinitionError):
    """motion trigger already exists"""


class UnknownRelation(DefinitionError):
    """relation does not exist"""


class UnknownColumn(DefinitionError):
    """column does not exist"""


class InvalidSetting(DefinitionError):
    """invalid motion trigger setting"""


class UserCodeError(MotionError):
    """the trigger class could not be loaded or used"""


class InferError(MotionError):
    """infer failed"""


class FitError(MotionError):
    """fit failed"""


class InstallError(MotionError):
    """motion_pg is not installed in this database"""


class EmbeddedDatabaseError(MotionError):
    """the embedded database could not be managed"""
