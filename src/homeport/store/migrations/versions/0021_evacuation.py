"""evacuation: pin epochs, ID maps, evacuation progress

Revision ID: 0021
Revises: 0009, 0013
Create Date: 2026-11-26 10:47:01.894385
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = ("0009", "0013")  # alters tables of both branches
branch_labels = ("evacuation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_id_map",
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation", sa.String(length=128), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_id_map")),
        sa.UniqueConstraint("source_id", name=op.f("uq_gateway_id_map_source_id")),
    )
    with op.batch_alter_table("gateway_id_map", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gateway_id_map_conversation", ["conversation", "seq"], unique=False
        )

    op.create_table(
        "rollout_evacuations",
        sa.Column("rollout_id", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_rollout_evacuations")),
        sa.UniqueConstraint("key", name=op.f("uq_rollout_evacuations_key")),
    )
    with op.batch_alter_table("rollout_evacuations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rollout_evacuations_status", ["rollout_id", "status"], unique=False
        )

    with op.batch_alter_table("gateway_pins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("gateway", sa.String(length=128), server_default="default", nullable=False)
        )
        batch_op.add_column(sa.Column("epoch", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_gateway_pins_epoch", ["gateway", "epoch"], unique=False)

    with op.batch_alter_table("rollout_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pins_epoch", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("rollout_state", schema=None) as batch_op:
        batch_op.drop_column("pins_epoch")

    with op.batch_alter_table("gateway_pins", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_pins_epoch")
        batch_op.drop_column("epoch")
        batch_op.drop_column("gateway")

    with op.batch_alter_table("rollout_evacuations", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_evacuations_status")

    op.drop_table("rollout_evacuations")
    with op.batch_alter_table("gateway_id_map", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_id_map_conversation")

    op.drop_table("gateway_id_map")
