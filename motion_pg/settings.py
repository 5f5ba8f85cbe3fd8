"""The system settings of a motion trigger: one typed, validated home.

``WITH (k = v)`` mixes two kinds of params. *Settings* are read by motion_pg itself (how many events a
fit receives, what a failing infer does, …); they are declared once below, validated when CREATE or
ALTER names them, and stored typed (the composite type ``motion.settings``), so nothing downstream
ever parses a raw value again. Every other name is a *user param*, free-form, read by the trigger
class as ``ctx.params``. A name that is not a setting but looks like one (``max_attempt``) is refused:
a typo must not silently become a user param.

Adding a setting is a field here plus ``ALTER TYPE motion.settings ADD ATTRIBUTE`` in an incremental
SQL file.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from motion_pg.errors import InvalidSetting

Literal = str | int | float | bool | None


def _positive_int(name: str, value: Literal) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSetting(
            f"setting {name} must be a positive integer, got {value!r}",
            hint=f"write {name} = 100 (no quotes)",
        )
    return value


def _seconds(name: str, value: Literal, *, allow_zero: bool = False) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        least = "zero or more" if allow_zero else "more than zero"
        raise InvalidSetting(
            f"setting {name} must be a number of seconds, {least}, got {value!r}",
            hint=f"write {name} = 30 (seconds, no quotes)",
        )
    return float(value)  # type: ignore[arg-type]


def _choice(*allowed: str) -> Callable[[str, Literal], str]:
    def check(name: str, value: Literal) -> str:
        if value not in allowed:
            raise InvalidSetting(
                f"setting {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
            )
        return str(value)

    return check


INTERVAL_UNITS = {  # interval words -> seconds (settings and refit policies)
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip


def _interval(name: str, value: Literal) -> float:
    """Seconds, from a number of seconds or a string such as ``'7 days'`` or ``'12 hours'``."""
    if isinstance(value, str):
        parts = value.strip().lower().split()
        try:
            number = (
                float(parts[0]) if len(parts) == 2 and parts[1] in INTERVAL_UNITS else float("nan")
            )
        except ValueError:
            number = float("nan")
        if math.isfinite(number) and number >= 0:
            return number * INTERVAL_UNITS[parts[1]]
        raise InvalidSetting(
            f"setting {name} must be an interval such as '7 days' or '12 hours', got {value!r}",
            hint=f"write {name} = '7 days' (units: seconds, minutes, hours, days, weeks)",
        )
    return _seconds(name, value, allow_zero=True)


def _after(name: str, value: Literal) -> float:
    """An interval (see :func:`_interval`) of more than zero seconds."""
    seconds = _interval(name, value)
    if seconds <= 0:
        raise InvalidSetting(
            f"setting {name} must be an interval of more than zero seconds, got {value!r}",
            hint=f"write {name} = '10 minutes', or {name} = NULL to keep every event",
        )
    return seconds


def _expectations(name: str, value: Literal) -> str:
    """A JSON object of per-column expectations, checked (motion_pg.runtime.expect) and kept as
    its canonical text."""
    from motion_pg.runtime.expect import parse

    if not isinstance(value, str):
        raise InvalidSetting(
            f"setting {name} must be a JSON object in a string, got {value!r}",
            hint=f'write {name} = \'{{"score": {{"min": 0, "max": 1}}}}\'',
        )
    return parse(name, value).text


def _bool(name: str, value: Literal) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetting(f"setting {name} must be true or false, got {value!r}")
    return value


def _ray_address(name: str, value: Literal) -> str:
    """A Ray cluster's address as ``ray.init`` takes it: ``'host:port'``, ``'ray://host:port'``
    or ``'auto'``."""
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise InvalidSetting(
            f"setting {name} must be the address of a Ray cluster, got {value!r}",
            hint=f"write {name} = '10.0.0.5:6379' (the head's GCS address), 'ray://host:10001' "
            "or 'auto' (the cluster RAY_ADDRESS or `ray start` names on the worker's host)",
        )
    return value


@dataclass(frozen=True)
class Settings:
    """A trigger's system settings, with their defaults.

    ``None`` for ``fit_batch``, ``fit_timeout``, ``fit_batch_bytes`` and ``fit_batch_time`` means
    the worker's own default (``--fit-batch``, ``--fit-timeout``, ...). A fit call takes the
    trigger's pending events up to its budget: ``fit_batch`` events, ``fit_batch_bytes`` of event
    data, and as many as its measured cost per event fits in ``fit_batch_time`` seconds.
    ``None`` for ``ray_address`` means ``'auto'`` (the Ray cluster the worker's host knows of).
    ``executor = 'ray'`` computes fits as Ray tasks.
    For ``discard_after`` and ``keep_latest`` (backpressure, :mod:`motion_pg.worker.backpressure`)
    ``None`` keeps every event; for ``expect`` it means no expectations
    (:mod:`motion_pg.runtime.expect`).
    """

    fit_batch: int | None = None
    fit_timeout: float | None = None
    max_attempts: int = 5
    retry_delay: float = 1.0
    retry_delay_max: float = 60.0
    on_error: str = "raise"
    on_fit_error: str = "retry"
    infer_mode: str = "auto"
    fire_on_replica: bool = False
    lineage: bool = True
    keep_versions: int = 100
    keep_events: float = 7 * 86400.0
    backfill: bool = False
    executor: str = "local"
    ray_address: str | None = None
    on_drift: str = "off"
    drift_window: int = 500
    fit_batch_bytes: int | None = None
    fit_batch_time: float | None = None
    discard_after: float | None = None
    keep_latest: int | None = None
    expect: str | None = None
    on_violation: str = "raise"
    key_cache: int = 10000  # STATE PER: the most keys' states a backend keeps loaded (an LRU)
    infer_timeout: float = 60.0  # async infer: seconds one batch may take in the infer process

    # how each setting's literal is checked and converted; every field has one
    CHECKS: ClassVar[dict[str, Callable[[str, Literal], Any]]] = {
        "fit_batch": _positive_int,
        "fit_timeout": _seconds,
        "max_attempts": _positive_int,
        "retry_delay": lambda n, v: _seconds(n, v, allow_zero=True),
        "retry_delay_max": lambda n, v: _seconds(n, v, allow_zero=True),
        "on_error": _choice("raise", "skip"),
        "on_fit_error": _choice("retry", "block"),
        "infer_mode": _choice("auto", "row", "batch", "async"),
        "fire_on_replica": _bool,
        "lineage": _bool,
        "keep_versions": _positive_int,
        "keep_events": _interval,
        "backfill": _bool,
        "executor": _choice("local", "ray"),
        "ray_address": _ray_address,
        "on_drift": _choice("off", "alert", "refit", "pause"),
        "drift_window": _positive_int,
        "fit_batch_bytes": _positive_int,
        "fit_batch_time": _seconds,
        "discard_after": _after,
        "keep_latest": _positive_int,
        "expect": _expectations,
        "on_violation": _choice("raise", "record"),
        "key_cache": _positive_int,
        "infer_timeout": _seconds,
    }

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of every setting."""
        return tuple(f.name for f in fields(cls))

    def updated(self, params: Mapping[str, Literal]) -> Settings:
        """These settings with the settings named in ``params`` checked and applied.

        ``NULL`` resets a setting to its default. Names that are not settings are ignored here
        (see :func:`split`).
        """
        changes: dict[str, Any] = {}
        defaults = Settings()
        for name, value in params.items():
            if name not in self.CHECKS:
                continue
            if value is None:
                changes[name] = getattr(defaults, name)
            else:
                changes[name] = self.CHECKS[name](name, value)
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """Every setting by name (the form stored in ``motion.settings`` and shown to users)."""
        return {name: getattr(self, name) for name in self.names()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | None) -> Settings:
        """Settings read back from the catalog (already validated when they were written);
        ``data`` is the jsonb of ``to_jsonb(settings)``, as text (PL/Python) or a dict."""
        found: Mapping[str, Any] = json.loads(data) if isinstance(data, str) else (data or {})
        known = {k: v for k, v in found.items() if k in cls.CHECKS and v is not None}
        return cls(**known)


def split(params: Mapping[str, Literal]) -> tuple[dict[str, Literal], dict[str, Literal]]:
    """``params`` split into (settings, user params); refuses near-misses of setting names."""
    settings: dict[str, Literal] = {}
    user: dict[str, Literal] = {}
    names = Settings.names()
    for name, value in params.items():
        if name in names:
            settings[name] = value
            continue
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
        if close:
            raise InvalidSetting(
                f"unknown setting {name!r}: did you mean {close[0]!r}?",
                hint=f"settings are {', '.join(names)}; any other name is a user param "
                "(ctx.params), but one this close to a setting is refused as a likely typo",
            )
        user[name] = value
    return settings, user
