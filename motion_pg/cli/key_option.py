"""``--key VALUE[,VALUE]``: a key of a keyed trigger (STATE PER) as given on the command line."""

from __future__ import annotations

import csv
import json
from typing import Any

import psycopg

from motion_pg.runtime.keyed import canonical

KEY_HELP = (
    "a key of the trigger's STATE PER columns: its value, or its values separated by commas for "
    "several columns (quote a value holding a comma: '\"a,b\",7'), or the key as a JSON array"
)


def key_values(spec: str, columns: int) -> list[str]:
    """The values of ``spec`` for a key of ``columns`` columns: the whole text for one column,
    else its comma-separated fields (CSV quoting)."""
    if columns == 1:
        return [spec]
    return next(csv.reader([spec], skipinitialspace=True), [])


def resolve_key(conn: psycopg.Connection[Any], trigger: str, spec: str) -> str:
    """The key ``spec`` of ``trigger`` as jsonb text (canonical): a JSON array is taken as it is;
    values are read as their columns' types by the database (``motion.key_of``). Raises what the
    database raises (an unknown trigger, no STATE PER, the wrong number of values, a value its
    column's type refuses)."""
    if spec.lstrip().startswith("["):
        try:
            return canonical(spec)
        except ValueError:
            pass  # not JSON: a value that starts with '['
    row = conn.execute(
        "SELECT t.state_per FROM motion.triggers t WHERE t.name = %s", [trigger]
    ).fetchone()
    columns = len(row[0]) if row is not None and row[0] is not None else 1
    found = conn.execute(
        "SELECT motion.key_of(%s, %s)::text", [trigger, key_values(spec, columns)]
    ).fetchone()
    assert found is not None
    return canonical(str(found[0]))


def key_label(text: str) -> str:
    """A key for people: ``42`` for ``[42]``, ``a, 7`` for ``["a",7]``."""
    values = json.loads(text)
    return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in values)
