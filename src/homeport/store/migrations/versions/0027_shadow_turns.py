"""shadow turns: a conversation's copies in order across replicas

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27 02:45:18.943747
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_turns",
        sa.Column("gateway", sa.String(length=128), nullable=False),
        sa.Column("turn", sa.String(length=128), nullable=False),
        sa.Column("conversation", sa.String(length=128), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_turns")),
        sa.UniqueConstraint("gateway", "turn", name=op.f("uq_gateway_turns_gateway_turn")),
    )
    with op.batch_alter_table("gateway_turns", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_turns_expiry", ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_gateway_turns_order", ["gateway", "conversation", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("gateway_turns", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_turns_order")
        batch_op.drop_index("ix_gateway_turns_expiry")

    op.drop_table("gateway_turns")
