"""Motion statements in Alembic migrations.

::

    from motion_pg.alembic import motion

    def upgrade() -> None:
        op.create_table(...)
        motion("CREATE MOTION TRIGGER triage ON tickets USING 'app.triggers:Triage'")

    def downgrade() -> None:
        motion("DROP MOTION TRIGGER triage")

The statement runs through ``SELECT motion.exec(...)`` in the migration's transaction, so it is
rolled back with the migration, and it is rendered as plain SQL in offline (``--sql``) mode.
"""

from __future__ import annotations

import sqlalchemy as sa


def statement(text: str) -> sa.Select[tuple[str]]:
    """``SELECT motion.exec(text)`` as a SQLAlchemy statement (for ``op.execute`` or a session)."""
    return sa.select(sa.func.motion.exec(sa.literal(text, sa.Text)))


def motion(text: str) -> None:
    """Run motion statements (CREATE/ALTER/DROP MOTION TRIGGER …) in the current migration."""
    from alembic import op

    op.execute(statement(text))
