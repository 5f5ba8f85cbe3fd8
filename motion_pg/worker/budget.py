"""How many events one fit call takes: what is pending, up to a budget.

A fixed batch of 100 spent the fixed cost of a call on every hundred events of a bulk load and
gave a slow fit the same hundred as a trivial one. A call now takes the trigger's pending events
(oldest first, always at least one) up to three limits:

- ``fit_batch`` events (the worker's ``--fit-batch``, default 10,000);
- ``fit_batch_bytes`` of event data as stored (``--fit-batch-bytes``, default 16 MB), cut in the
  claim itself;
- ``fit_batch_time`` seconds (``--fit-batch-time``, default 1 s): the worker measures each
  trigger's cost per event (the whole call, fixed cost included, so the estimate errs on the small
  side) and caps the next call to what fits in the budget. A trigger it has not timed yet starts
  at ``PROBE`` events, and a cap grows at most ``GROWTH`` times per call, so a slow fit is never
  handed a huge first batch.

A trickle is unaffected: a call takes what is pending, one event when one is pending; nothing
waits for a batch to fill.

When ``fit_batch`` is smaller than what the other limits allow, a claim takes several fit calls'
worth (at most ``GROUP_EVENTS`` events): the fit process fits them slice by slice, a version
each, and commits them together (:mod:`.grouping`). After a group whose fit process died or timed
out, the trigger's next events are claimed one fit call at a time (:meth:`Budget.hold`), so the
slice that killed it fails alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from motion_pg.settings import Settings

PROBE = 100
GROWTH = 8
DEFAULT_EVENTS = 10_000
DEFAULT_BYTES = 16 * 1024 * 1024
DEFAULT_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """A worker's defaults for triggers whose settings leave a limit unset."""

    events: int = DEFAULT_EVENTS
    bytes: int = DEFAULT_BYTES
    seconds: float = DEFAULT_SECONDS


class Budget:
    """Per trigger, the event cap the time budget allows for its next fit call."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._caps: dict[str, int] = {}
        # per trigger: (events still to claim one fit call at a time, the events of one call)
        self._held: dict[str, tuple[int, int]] = {}

    def caps_json(self) -> str:
        """The caps of the triggers timed so far, as the claim's jsonb parameter."""
        if not self._held:
            return json.dumps(self._caps)
        return json.dumps({**self._caps, **{t: n for t, (_, n) in self._held.items()}})

    def hold(self, trigger: str, events: int, per_call: int) -> None:
        """Claim the next ``events`` events of ``trigger`` ``per_call`` at a time (no groups)."""
        self._held[trigger] = (events, max(1, per_call))

    def cap(self, trigger: str) -> int:
        """The event cap of ``trigger``'s next call from the time budget alone."""
        return self._caps.get(trigger, PROBE)

    def observe(self, trigger: str, events: int, seconds: float, settings: Settings) -> None:
        """Record that a call of ``events`` events of ``trigger`` took ``seconds``."""
        if events < 1:
            return
        held = self._held.get(trigger)
        if held is not None:
            if held[0] <= events:
                del self._held[trigger]
            else:
                self._held[trigger] = (held[0] - events, held[1])
        budget = settings.fit_batch_time or self.limits.seconds
        per_event = max(seconds, 1e-6) / events
        allowed = int(budget / per_event)
        # a small call's cost per event includes the call's fixed cost: the estimate errs small
        self._caps[trigger] = max(1, min(allowed, max(events, self.cap(trigger)) * GROWTH))

    def forget(self, trigger: str) -> None:
        self._caps.pop(trigger, None)
        self._held.pop(trigger, None)
