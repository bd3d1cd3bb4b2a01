"""The search index across the schema upgrade that stores chunks' text-search terms (0023)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import insert, text

from homeport.knowledge.index import search_index
from homeport.store import keys
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models.knowledge import Chunk, VectorStore

BODY = "Customers may return unworn shoes within 30 days for a full refund."


def test_upgrade_keeps_chunks_written_before_it_searchable(blank_database_url: str) -> None:
    db = Database(blank_database_url)
    index = search_index(db.dialect)
    try:
        upgrade(db.engine, "0022")
        with db.session() as session:
            project = keys.ensure_project(session, "default")
            session.add(VectorStore(id="vs_old", project_id=project.id, embedding_model="m"))
            session.flush()
            conn = session.connection()
            seq = conn.execute(
                insert(Chunk).returning(Chunk.seq),
                {
                    "vector_store_id": "vs_old",
                    "file_id": "file-old",
                    "n": 0,
                    "text": BODY,
                    "tokens": 14,
                    "content_hash": "h",
                    "model": "m",
                    "dims": 3,
                    "embedding": np.ones(3, np.float32),
                },
            ).scalar_one()
            if db.dialect == "postgresql":  # the index that revision made on first use
                conn.exec_driver_sql(
                    "CREATE INDEX ix_knowledge_chunks_tsv ON knowledge_chunks "
                    "USING gin (to_tsvector('english', text))"
                )
            else:
                index.ensure(conn, 3)
                index.add(conn, 3, [(seq, "vs_old", "file-old", BODY)])
        upgrade(db.engine)
        with db.session() as session:
            conn = session.connection()
            index.ensure(conn, 3)
            hits = index.keyword_search(
                conn, store_id="vs_old", query="refunds for shoes", k=5, file_ids=None
            )
            assert [s for s, _ in hits] == [seq]
            if db.dialect == "postgresql":
                stored, parsed = conn.execute(
                    text(
                        "SELECT text_tsv::text, to_tsvector('english', text)::text "
                        "FROM knowledge_chunks"
                    )
                ).one()
                assert stored == parsed
                names = set(
                    conn.execute(
                        text(
                            "SELECT indexname FROM pg_indexes WHERE tablename = 'knowledge_chunks'"
                        )
                    ).scalars()
                )
                assert "ix_knowledge_chunks_text_tsv" in names
                assert "ix_knowledge_chunks_tsv" not in names
    finally:
        db.dispose()
