"""carrier intents: on-demand carriers being made, so a replica that dies leaves none behind

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-27 02:47:52.491173
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_carrier_intents",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=128), nullable=False),
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("carrier", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gateway_carrier_intents")),
        sa.UniqueConstraint("token", name=op.f("uq_gateway_carrier_intents_token")),
    )
    with op.batch_alter_table("gateway_carrier_intents", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_carrier_intents_age", ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_gateway_carrier_intents_member"), ["member"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("gateway_carrier_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_carrier_intents_member"))
        batch_op.drop_index("ix_gateway_carrier_intents_age")

    op.drop_table("gateway_carrier_intents")
