"""Managed mode: motion's schema without PL/Python, for servers where ``plpython3u`` is not
available (RDS, Cloud SQL, Azure, Supabase) and the installing role is not a superuser.

The managed script is the direct-mode install script with every PL/Python function left out (and
the statements naming them), plus plain SQL / PL/pgSQL stand-ins for the few the remaining
PL/pgSQL calls: the batch write-back and lineage checks answer "no" (nothing runs in the backend),
and ``motion._exec`` refuses with a message that says how to run motion statements instead (the
client compiles them, :mod:`motion_pg.managed_exec`). Every route infers asynchronously, in the
worker (``infer_mode = 'async'``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg

from motion_pg import extension as ext
from motion_pg.dsl import split_statements
from motion_pg.errors import InstallError
from motion_pg.managed_inspect import SQL as INSPECT_SQL
from motion_pg.managed_inspect import is_managed

_PLPYTHON = re.compile(r"\bLANGUAGE\s+plpython3u\b", re.I)
_FUNCTION = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.\"]+)\s*\(", re.I)
_NAMES = re.compile(r"\bFUNCTION\s+([\w.\"]+)\s*\(", re.I)

# stand-ins for the PL/Python functions that PL/pgSQL of the managed schema still calls
STUBS = """
CREATE OR REPLACE FUNCTION motion._writing_back(relid oid) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT false $$;
REVOKE ALL ON FUNCTION motion._writing_back(oid) FROM PUBLIC;
CREATE OR REPLACE FUNCTION motion._lineage_accept(trigger_name text, col text, stamp bytea)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT false $$;
REVOKE ALL ON FUNCTION motion._lineage_accept(text, text, bytea) FROM PUBLIC;
CREATE OR REPLACE FUNCTION motion._exec(statements text, caller_path text[], OUT result text,
                                        OUT sqlstate text, OUT message text, OUT detail text,
                                        OUT hint text)
LANGUAGE sql AS $$
SELECT NULL::text, 'MP000',
       'motion is installed in managed mode (no PL/Python on this server): the database cannot '
       || 'compile motion statements itself',
       NULL::text,
       'run them through the client, which compiles them and runs the generated SQL: '
       || '`motion-pg exec "CREATE MOTION TRIGGER ..."`, `motion-pg apply FILE.sql`, or '
       || 'motion_pg.execute(conn, sql) in Python'
$$;
REVOKE ALL ON FUNCTION motion._exec(text, text[]) FROM PUBLIC;
"""


def managed_sql(script: str) -> str:
    """``script`` without its PL/Python functions and the statements that name them."""
    chunks = split_statements(script)
    dropped: set[str] = set()
    for chunk in chunks:
        found = _FUNCTION.match(chunk.text)
        if found and _PLPYTHON.search(chunk.text):
            dropped.add(found.group(1).lower())
    kept: list[str] = []
    for chunk in chunks:
        found = _FUNCTION.match(chunk.text)
        if found and found.group(1).lower() in dropped:
            continue
        if not found and any(n.lower() in dropped for n in _NAMES.findall(chunk.text)):
            continue  # REVOKE / GRANT / COMMENT ON / ALTER a function left out
        kept.append(chunk.text)
    return ";\n".join(kept) + ";\n" + STUBS + INSPECT_SQL


def install_managed(conn: psycopg.Connection[Any]) -> None:
    """Create (or upgrade) the managed schema in ``conn``'s database, as the connected role, who
    owns it; ``conn`` is in a transaction the caller commits."""
    version: tuple[Any, ...] | None = None
    if conn.execute("SELECT to_regprocedure('motion.schema_version()')").fetchone() != (None,):
        version = conn.execute("SELECT motion.schema_version()").fetchone()
    try:
        with conn.transaction():  # optional here: vector columns need it, motion does not
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error:
        pass
    try:
        if version is None or version[0] is None:
            conn.execute(managed_sql(ext.full_script(ext.current_version(), "direct")))
        else:
            for source, target in ext.upgrade_path(str(version[0])):
                conn.execute(managed_sql(ext.upgrade_script(source, target, "direct")))
    except psycopg.Error as e:
        raise InstallError(
            f"cannot install motion in managed mode: {e.diag.message_primary or e}",
            hint="the installing role needs CREATE on the database (it becomes the owner of "
            "schema motion)",
        ) from e


MODES = ("auto", "full", "managed")


def choose_mode(
    conn: psycopg.Connection[Any], mode: str, notice: Callable[[str], None] | None = None
) -> str:
    """``'full'`` or ``'managed'``: how to install into ``conn``'s database (in its transaction).

    ``'auto'`` is full when ``plpython3u`` can be created (it is, in a savepoint, and kept), and
    managed, saying so through ``notice``, when it cannot; an existing install keeps its mode.
    """
    if mode not in MODES:
        raise InstallError(f"install mode must be one of {', '.join(MODES)}, got {mode!r}")
    if is_managed(conn):
        if mode == "full":
            raise InstallError(
                "motion is installed in managed mode in this database",
                hint="upgrading keeps the mode; drop schema motion first to reinstall in full mode",
            )
        return "managed"
    if mode != "auto":
        return mode
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
        return "full"
    except psycopg.Error as e:
        why = e.diag.message_primary or str(e).strip()
    if notice is not None:
        notice(
            f"plpython3u cannot be created in this database ({why}): installing motion in managed "
            "mode: plain SQL and PL/pgSQL only, every trigger infers asynchronously in "
            "`motion-pg worker` (outputs are written after commit), and motion statements are "
            'compiled by the client (`motion-pg exec "CREATE MOTION TRIGGER ..."`, '
            "`motion-pg apply`, motion_pg.execute); `--mode full` refuses instead"
        )
    return "managed"
