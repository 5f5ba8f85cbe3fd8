"""``motion.key_state``: one key's state of a keyed trigger (STATE PER), rendered as jsonb."""

from __future__ import annotations

import json
import pickle
from typing import Any

from motion_pg.errors import DefinitionError, raise_in_server, unknown_trigger
from motion_pg.queries import query
from motion_pg.runtime.inspection import render
from motion_pg.runtime.keyed import canonical
from motion_pg.runtime.plpy_db import PlpyDatabase


def key_state_json(plpy: Any, trigger: str, key: str, version: int | None) -> str:
    """The jsonb text ``{trigger, key, version, key_version, own}`` of ``key``'s state at
    ``version`` (default: serving): ``own`` holds the key's own values (not the trigger-wide ones
    it is laid over; ``motion.state`` shows those), ``key_version`` the version that wrote them
    (null: the key has no state of its own there)."""
    db = PlpyDatabase(plpy)
    found = db.query(query("trigger_serving"), [trigger])
    per = db.query(query("trigger_state_per"), [trigger])
    if not found:
        raise_in_server(plpy, unknown_trigger(trigger))
    if not per or per[0]["state_per"] is None:
        plpy.error(f'motion trigger "{trigger}" has no STATE PER: it keeps one state',
                   sqlstate=DefinitionError.sqlstate, hint="see it with motion.state")  # fmt: skip
    try:
        text = canonical(key)
    except ValueError:
        text = ""
    if not text.startswith("["):
        columns = ", ".join(per[0]["state_per"])
        plpy.error(f'motion trigger "{trigger}": a key is a JSON array of the values of '
                   f"({columns}), got {key}", sqlstate=DefinitionError.sqlstate,
                   hint="e.g. '[42]' for one column")  # fmt: skip
    if version is None:
        version = found[0]["serving_version"] or 0
    rows = db.query(query("key_state_at"), [trigger, text, version])
    own: dict[str, Any] = {}
    key_version = None
    if rows and rows[0]["data"] is not None:
        data = rows[0]["data"]
        key_version = int(rows[0]["version"])
        own = {
            k: render(v, len(pickle.dumps(v, protocol=5))) for k, v in pickle.loads(data).items()
        }
    out = {"trigger": trigger, "key": json.loads(text), "version": version,
           "key_version": key_version, "own": own}  # fmt: skip
    return json.dumps(out)
