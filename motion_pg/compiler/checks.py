"""Definitions refused at CREATE because they would break motion or the database later.

Postgres truncates identifiers to 63 bytes (a longer trigger name fails every write in
``pg_notify``; a longer relation name would silently name another relation); a motion trigger on
motion's own tables recurses on every write; a class from the motion_pg package itself (reloaded by
CREATE) replaces motion's own classes in the session.
"""

from __future__ import annotations

from motion_pg.dsl.spec import RelationName
from motion_pg.errors import DefinitionError, UserCodeError
from motion_pg.trigger import Trigger

MAX_IDENTIFIER = 63  # bytes: Postgres' NAMEDATALEN - 1
SYSTEM_SCHEMAS = ("motion", "pg_catalog", "information_schema")


def check_trigger_name(name: str) -> None:
    """Refuse a motion trigger name Postgres would truncate."""
    size = len(name.encode())
    if size > MAX_IDENTIFIER:
        raise DefinitionError(
            f'motion trigger name "{name[:20]}…" is {size} bytes long; the limit is '
            f"{MAX_IDENTIFIER} bytes",
            hint="choose a shorter name",
        )


def check_relation_name(name: str, relation: RelationName) -> None:
    """Refuse a relation name (or schema name) Postgres would truncate."""
    for part in (relation.schema, relation.name):
        if part is not None and len(part.encode()) > MAX_IDENTIFIER:
            raise DefinitionError(
                f'motion trigger "{name}": relation name "{part[:20]}…" is '
                f"{len(part.encode())} bytes long; Postgres names are at most {MAX_IDENTIFIER} "
                "bytes",
                hint="name the relation as it is stored (Postgres truncated it when it was made)",
            )


def check_relation_schema(name: str, schema: str, relation: str) -> None:
    """Refuse routes on motion's own tables, the system catalogs and temporary tables."""
    if schema in SYSTEM_SCHEMAS or schema.startswith("pg_toast"):
        raise DefinitionError(
            f'motion trigger "{name}": cannot route {relation}: schema {schema} belongs to '
            + ("motion itself" if schema == "motion" else "the system catalogs"),
            hint="motion triggers route application tables",
        )
    if schema.startswith("pg_temp"):
        raise DefinitionError(
            f'motion trigger "{name}": cannot route {relation}: it is a temporary table, and a '
            "motion trigger outlives the session",
            hint="route a permanent table",
        )


def check_relation_owner(name: str, relation: str, owner: str, superuser: bool) -> None:
    """Refuse a relation whose owner is not a superuser: motion's functions evaluate its rows, casts,
    constraints and (in batch mode) UPDATE triggers as their own superuser owner, so whoever owns
    the relation could run code as that superuser (SECURITY.md, "Routed relations are trusted")."""
    if not superuser:
        raise DefinitionError(
            f'motion trigger "{name}": cannot route {relation}: it is owned by role "{owner}", '
            "which is not a superuser, and the owner of a routed relation can run code as motion's "
            "functions",
            hint=f"ALTER TABLE {relation} OWNER TO an administrator; application roles need only "
            "INSERT, UPDATE and SELECT on it",
        )


def check_class_ref(class_ref: str) -> None:
    """Refuse a class of the motion_pg package before it is imported (CREATE reloads the module,
    which would replace motion's own classes in this session)."""
    module = class_ref.split(":", 1)[0]
    if module == "motion_pg" or module.startswith("motion_pg."):
        raise UserCodeError(
            f"USING {class_ref!r}: a class of the motion_pg package itself is not a trigger class",
            hint="subclass motion_pg.Trigger in your application's module and name that class",
        )


def check_class(cls: type, class_ref: str) -> None:
    """Refuse anything but a subclass of :class:`motion_pg.Trigger` defined outside motion_pg."""
    if not issubclass(cls, Trigger) or cls is Trigger:
        raise UserCodeError(
            f"USING {class_ref!r}: {cls.__module__}.{cls.__qualname__} is not a subclass of "
            "motion_pg.Trigger",
            hint="trigger classes subclass motion_pg.Trigger",
        )
    if cls.__module__ == "motion_pg" or cls.__module__.startswith("motion_pg."):
        check_class_ref(f"{cls.__module__}:{cls.__qualname__}")
