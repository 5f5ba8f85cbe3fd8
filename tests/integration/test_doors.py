"""Every door into motion_pg, for real: psql \\i, SQLAlchemy, Alembic, COPY, application roles."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import motion_pg
from motion_pg.alembic import statement
from motion_pg.errors import MotionError

from .conftest import psql

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int, seen_version int)"
)
CREATE = "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"


def sa_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def test_psql_include_of_a_migration_file(conn: psycopg.Connection[Any], dsn: str,
                                          tmp_path: Path) -> None:  # fmt: skip
    migration = tmp_path / "001_counter.sql"
    migration.write_text(
        f"BEGIN;\n{ITEMS};\n"
        f"SELECT motion.exec($$ {CREATE} WITH (factor = 5) $$);\n"
        "INSERT INTO items (value) VALUES (2);\nCOMMIT;\n"
    )
    psql(dsn, f"\\i {migration}")
    assert conn.execute("SELECT doubled FROM items").fetchone() == (10,)


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int]
    doubled: Mapped[int | None]
    seen_version: Mapped[int | None]


def test_sqlalchemy_orm_inserts_fire_infer(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    engine = sa.create_engine(sa_url(dsn))
    with Session(engine) as session:
        session.execute(statement(CREATE))
        session.commit()
        items = [Item(value=v) for v in (1, 2, 3)]
        session.add_all(items)
        session.commit()
        for item in items:
            session.refresh(item)
        assert [(i.doubled, i.seen_version) for i in items] == [(2, 1), (4, 1), (6, 1)]
        session.add(Item(value=10))
        session.rollback()  # an ORM rollback leaves no row and no fit job
    engine.dispose()
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (3,)


def test_alembic_migration_creates_then_alters_a_motion_trigger(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Path
) -> None:
    cfg = Config(str(tmp_path / "alembic.ini"))
    cfg.set_main_option("script_location", str(tmp_path / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sa_url(dsn).replace("%", "%%"))
    command.init(cfg, str(tmp_path / "migrations"))
    versions = tmp_path / "migrations" / "versions"
    (versions / "a1_items.py").write_text(textwrap.dedent(f'''
        import sqlalchemy as sa
        from alembic import op
        from motion_pg.alembic import motion

        revision = "a1"
        down_revision = None

        def upgrade():
            op.execute("{ITEMS}")
            motion("{CREATE}")

        def downgrade():
            motion("DROP MOTION TRIGGER counter")
            op.drop_table("items")
    '''))  # fmt: skip
    (versions / "a2_factor.py").write_text(
        textwrap.dedent("""
        from motion_pg.alembic import motion

        revision = "a2"
        down_revision = "a1"

        def upgrade():
            motion("ALTER MOTION TRIGGER counter SET (factor = 7)")

        def downgrade():
            motion("ALTER MOTION TRIGGER counter SET (factor = 2)")
    """)
    )
    command.upgrade(cfg, "a1")
    assert conn.execute("INSERT INTO items (value) VALUES (1) RETURNING doubled").fetchone() == (2,)
    command.upgrade(cfg, "head")
    params = conn.execute("SELECT params->>'factor' FROM motion.triggers").fetchone()
    assert params == ("7",)
    command.downgrade(cfg, "base")
    assert conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)
    assert conn.execute("SELECT to_regclass('items')").fetchone() == (None,)


def test_copy_of_thousands_of_rows(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, CREATE)
    with conn.cursor() as cur, cur.copy("COPY items (value) FROM STDIN") as copy:
        for v in range(5000):
            copy.write_row((v,))
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE doubled = value * 2 AND seen_version = 1)"
        " FROM items"
    ).fetchone()
    assert row == (5000, 5000)
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (5000,)


@pytest.fixture
def app_role(conn: psycopg.Connection[Any], dsn: str) -> str:
    """An application role that may write rows and nothing else."""
    conn.execute(ITEMS)
    motion_pg.execute(conn, CREATE)
    role = "app_" + dsn.rsplit("/", 1)[1][-10:]
    conn.execute(f"DROP ROLE IF EXISTS {role}")
    conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'app'")
    conn.execute(f"GRANT SELECT, INSERT, UPDATE ON items TO {role}")
    conn.execute(f"GRANT USAGE ON SEQUENCE items_id_seq TO {role}")
    return role


def test_application_role_writes_rows_but_cannot_manage_triggers(
    conn: psycopg.Connection[Any], dsn: str, app_role: str
) -> None:
    head, db = dsn.rsplit("/", 1)
    host = head.split("@", 1)[1]
    app_dsn = f"postgresql://{app_role}:app@{host}/{db}"
    try:
        with psycopg.connect(app_dsn, autocommit=True) as app:
            row = app.execute("INSERT INTO items (value) VALUES (4) RETURNING doubled").fetchone()
            assert row == (8,)
            with pytest.raises(MotionError, match="only administrators"):
                motion_pg.execute(app, "DROP MOTION TRIGGER counter")
            with pytest.raises(MotionError, match="only administrators"):
                motion_pg.execute(app, CREATE.replace("counter", "mine"))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("SELECT motion.exec('DROP MOTION TRIGGER counter')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("SELECT * FROM motion.triggers")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("UPDATE motion.triggers SET enabled = false")
    finally:
        conn.execute(f"DROP OWNED BY {app_role}")
        conn.execute(f"DROP ROLE {app_role}")
    assert conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (1,)


def test_fire_on_replica_serves_logical_replication_targets(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, CREATE)

    def replicated_insert() -> Any:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            row = conn.execute("INSERT INTO items (value) VALUES (5) RETURNING doubled")
            return row.fetchone()

    assert replicated_insert() == (None,)  # as Postgres does for ordinary triggers
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (fire_on_replica = true)")
    assert replicated_insert() == (10,)
    enabled = conn.execute(
        "SELECT DISTINCT tgenabled FROM pg_trigger WHERE tgname LIKE 'motion%'"
    ).fetchall()
    assert enabled == [("A",)]
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter DISABLE")
    assert replicated_insert() == (None,)
