"""Drift profiles: what each routed column's data looked like (the reference, from the data setup
saw or pinned by the user) against what recent events look like (the current profile), tested
with the field's defaults (:mod:`.stats`).

- :mod:`.profile` builds a column's profile (numeric, categorical, text, vector) from its values;
- :mod:`.stats` compares two profiles (scipy);
- :mod:`.store` reads the data and writes profiles, figures and the trigger's drift status.
"""

from __future__ import annotations

from motion_pg.drift.profile import build_profile, column_kind
from motion_pg.drift.stats import Figure, compare

__all__ = ["Figure", "build_profile", "column_kind", "compare"]
