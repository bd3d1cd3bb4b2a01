"""replay maps: the shadow workers' shared memory, and pins marked as shadowed

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-26 12:54:31.684564
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_replay",
        sa.Column("gateway", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("candidate_id", sa.String(length=128), nullable=True),
        sa.Column(
            "calls",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("broken", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_replay")),
        sa.UniqueConstraint("gateway", "key", name=op.f("uq_gateway_replay_gateway_key")),
    )
    with op.batch_alter_table("gateway_replay", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_replay_expiry", ["expires_at"], unique=False)

    with op.batch_alter_table("gateway_pins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shadowed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("gateway_pins", schema=None) as batch_op:
        batch_op.drop_column("shadowed")

    with op.batch_alter_table("gateway_replay", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_replay_expiry")

    op.drop_table("gateway_replay")
