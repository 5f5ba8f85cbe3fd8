"""Deploying a trigger's code: CREATE, CREATE OR REPLACE and ``ALTER MOTION TRIGGER name RELOAD``.

A deploy re-imports the class's application modules in this backend, records the identity of the
code now on disk as the trigger's deployed code and logs it in ``motion.deploys`` (who, when, the
digest before and after). The caller bumps the trigger's revision, so every backend and worker
compares the new digest with the code it imported before its next statement or fit.
"""

from __future__ import annotations

import json

from motion_pg.queries import query
from motion_pg.runtime import identity
from motion_pg.runtime.identity import CodeIdentity
from motion_pg.runtime.plpy_db import PlpyDatabase


def record_deploy(db: PlpyDatabase, name: str, action: str, code: CodeIdentity) -> str | None:
    """Record ``code`` as the deployed code of trigger ``name``; returns the digest before."""
    rows = db.query(query("record_deploy"),
                    [name, action, code.digest, json.dumps(code.to_json())])  # fmt: skip
    before = rows[0]["digest_before"] if rows else None
    return str(before) if before is not None else None


def reload(db: PlpyDatabase, name: str, class_ref: str) -> str:
    """``ALTER MOTION TRIGGER name RELOAD``: deploy the code on disk; returns the status tail."""
    code = identity.reload(class_ref)
    before = record_deploy(db, name, "reload", code)
    if before == code.digest:
        return f"RELOAD (code {code.short}, unchanged)"
    return f"RELOAD (code {before[:12] if before else 'unrecorded'} -> {code.short})"


def record_version_code(db: PlpyDatabase, name: str, version: int, digest: str | None) -> None:
    """Record the digest of the code version ``version`` was built or served with."""
    db.query(query("set_version_code"), [name, version, digest])


def deployed_digest(db: PlpyDatabase, name: str) -> str | None:
    """The digest of the trigger's deployed code (None: not recorded, before 0.3)."""
    rows = db.query(query("trigger_code"), [name])
    return str(rows[0]["code_digest"]) if rows and rows[0]["code_digest"] else None
