"""Cron expressions of scheduled routes (``ON SCHEDULE 'expression'``), read by croniter.

An expression has five fields (minute hour day-of-month month day-of-week), or six with the
seconds first (second minute hour day-of-month month day-of-week), or is one of croniter's aliases
(``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``). Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter

from motion_pg.errors import DefinitionError

_FIELDS = (5, 6)
_HINT = (
    "five fields (minute hour day month weekday), six with seconds first "
    "(second minute hour day month weekday), or @hourly, @daily, @weekly, @monthly, @yearly; "
    "times are UTC"
)


def _iterator(expression: str, after: datetime) -> croniter:
    return croniter(expression, after, ret_type=datetime, second_at_beginning=True)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def next_firing(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expression`` names, in UTC (a naive
    ``after`` is taken as UTC). Raises croniter's errors for a bad expression: check it with
    :func:`validate` first."""
    moment = _iterator(expression, _utc(after)).get_next(datetime)
    assert isinstance(moment, datetime)
    return _utc(moment)


def validate(trigger: str, expression: str) -> datetime:
    """Check the expression of one of ``trigger``'s schedules; returns its next firing from now.

    Raises :class:`DefinitionError` naming the trigger and the expression otherwise, also for an
    expression that never fires (``0 0 31 2 *``).
    """
    words = expression.split()
    alias = len(words) == 1 and words[0].startswith("@")
    problem: str | None = None
    if not alias and len(words) not in _FIELDS:
        problem = f"it has {len(words)} field(s)"
    else:
        try:
            return next_firing(expression, datetime.now(UTC))
        except CroniterBadDateError:
            problem = "it names no time that ever comes"
        except Exception as e:  # croniter's errors are ValueError, TypeError, KeyError, ...
            problem = str(e).strip().rstrip(".") or type(e).__name__
    raise DefinitionError(
        f'motion trigger "{trigger}": invalid cron expression {expression!r} in ON SCHEDULE: '
        f"{problem[:1].lower() + problem[1:]}",
        hint=_HINT,
    )
