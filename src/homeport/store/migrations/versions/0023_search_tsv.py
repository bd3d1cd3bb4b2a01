"""search_tsv: chunks keep their text-search terms in a stored generated column

On PostgreSQL ``text_tsv`` is ``to_tsvector('english', text)``, computed for every existing row
when the column is added (the table is rewritten once) and for every new row on insert; keyword
search ranks on it instead of re-parsing each matching chunk. Its GIN index replaces the
expression index ``ix_knowledge_chunks_tsv``; both are built by homeport.knowledge.index on first
use. On SQLite the FTS5 table holds the terms and the column is a virtual NULL.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_knowledge_chunks_tsv")
        op.add_column(
            "knowledge_chunks",
            sa.Column(
                "text_tsv",
                postgresql.TSVECTOR(),
                sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
                nullable=True,
            ),
        )
        return
    # SQLite adds only virtual generated columns to an existing table.
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("text_tsv", sa.Text(), sa.Computed("NULL", persisted=False), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.drop_column("text_tsv")  # its GIN index goes with it
