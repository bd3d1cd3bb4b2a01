"""gateway pins, mirrored objects and per-side stats

Revision ID: 0013
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0001"
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_objects",
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("primary", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_objects")),
        sa.UniqueConstraint("object_id", name=op.f("uq_gateway_objects_object_id")),
    )
    op.create_index(op.f("ix_gateway_objects_status"), "gateway_objects", ["status"], unique=False)
    op.create_table(
        "gateway_pins",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_pins")),
        sa.UniqueConstraint("key", name=op.f("uq_gateway_pins_key")),
    )
    op.create_table(
        "gateway_side_stats",
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column(
            "latency_buckets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "ttft_buckets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_side_stats")),
    )
    op.create_index(
        "ix_gateway_side_stats_window", "gateway_side_stats", ["window_start", "side"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_side_stats_window", table_name="gateway_side_stats")
    op.drop_table("gateway_side_stats")
    op.drop_table("gateway_pins")
    op.drop_index(op.f("ix_gateway_objects_status"), table_name="gateway_objects")
    op.drop_table("gateway_objects")
