"""hnsw_settings: vector indexes built before ef_construction = 200 are rebuilt with it

homeport.knowledge.index builds each dimension's HNSW index on first use with ``m = 16,
ef_construction = 200`` (recall@10 0.98 at 100,000 chunks; pgvector's default 64 gave 0.73).
An index built by an older homeport keeps the settings it was built with, so this revision sets
the new ones on every such index and rebuilds it. ``REINDEX`` blocks writes to
``knowledge_chunks`` while it runs (minutes for a few hundred thousand chunks); searches go on.
Nothing to do on SQLite (its vector search is exact).

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

BUILD = {"m": "16", "ef_construction": "200"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    rows = bind.execute(
        sa.text(
            "SELECT c.relname, coalesce(c.reloptions, '{}') FROM pg_class c "
            "JOIN pg_am a ON a.oid = c.relam "
            "WHERE c.relkind = 'i' AND a.amname = 'hnsw' "
            "AND c.relname LIKE 'ix_knowledge_chunks_hnsw_%'"
        )
    ).all()
    for name, options in rows:
        current = dict(option.split("=", 1) for option in options)
        if all(current.get(key) == value for key, value in BUILD.items()):
            continue
        settings = ", ".join(f"{key} = {value}" for key, value in BUILD.items())
        op.execute(f'ALTER INDEX "{name}" SET ({settings})')
        op.execute(f'REINDEX INDEX "{name}"')


def downgrade() -> None:
    """The rebuilt indexes are kept: they answer the same queries, with better recall."""
