"""memories: AgentCore Memory events

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26 12:51:04.693947
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memory_events",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("memory_id", sa.String(length=128), nullable=False),
        sa.Column("actor_id", sa.String(length=255), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_memory_events_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_memory_events")),
        sa.UniqueConstraint(
            "memory_id",
            "actor_id",
            "session_id",
            "id",
            name=op.f("uq_memory_events_memory_id_actor_id_session_id_id"),
        ),
    )
    with op.batch_alter_table("memory_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_memory_events_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            "ix_memory_events_session",
            ["memory_id", "actor_id", "session_id", "created_at", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("memory_events", schema=None) as batch_op:
        batch_op.drop_index("ix_memory_events_session")
        batch_op.drop_index(batch_op.f("ix_memory_events_project_id"))

    op.drop_table("memory_events")
