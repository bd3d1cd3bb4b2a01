"""The sweep removes expired stores' chunks and index entries, expired files with their blobs
when no other file shares the content, and blobs no file names; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import time

import pytest
from sqlalchemy import func, select, text, update

from homeport.knowledge import stores
from homeport.knowledge.blobs import LocalBlobs, blob_store, stage
from homeport.knowledge.chunking import resolve_strategy
from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.search import search
from homeport.knowledge.sweep import ORPHAN_GRACE_SECONDS, Swept, sweep
from homeport.store.models.base import now
from homeport.store.models.knowledge import Chunk, StoredFile, VectorStore, VectorStoreFile
from tests.knowledge.conftest import Knowledge

GUIDE = b"Customers may return unworn shoes within 30 days for a full refund."
SHIPPING = b"Orders ship from our Rotterdam warehouse within two business days."


def _chunks(knowledge: Knowledge, store_id: str) -> int:
    with knowledge.services.db.session() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.vector_store_id == store_id)
            )
            or 0
        )


def _expire_file(knowledge: Knowledge, file_id: str) -> None:
    with knowledge.services.db.session() as session:
        session.execute(
            update(StoredFile).where(StoredFile.id == file_id).values(expires_at=now() - 1)
        )


def test_sweep_empties_expired_stores_and_deletes_expired_files(knowledge: Knowledge) -> None:
    db = knowledge.services.db
    blobs = blob_store(knowledge.services.settings)
    embedder = get_embedder(knowledge.services.settings.knowledge)
    old = knowledge.store(
        {"guide.md": GUIDE}, expires_after={"anchor": "last_active_at", "days": 1}
    )
    kept = knowledge.store({"shipping.md": SHIPPING})
    queued = knowledge.upload("late.md", b"A file queued just before the store expired.")
    unique = knowledge.upload("unique.txt", b"Nobody else has these bytes.")
    shared = knowledge.upload("copy.md", SHIPPING)  # same bytes as the kept store's file
    with db.session() as session:
        store = session.scalar(select(VectorStore).where(VectorStore.id == old.id))
        assert store is not None
        stores.add_file(session, store, queued, strategy=resolve_strategy(None))
        store.last_active_at = now() - 2 * 86400
    _expire_file(knowledge, unique)
    _expire_file(knowledge, shared)
    assert _chunks(knowledge, old.id) > 0
    with db.session() as session:
        sha = {
            row.id: row.sha256
            for row in session.scalars(
                select(StoredFile).where(StoredFile.id.in_([unique, shared]))
            )
        }

    assert sweep(db, blobs) == Swept(stores=1, files=2, blobs=1, orphans=0)

    assert _chunks(knowledge, old.id) == 0
    assert _chunks(knowledge, kept.id) > 0
    with db.session() as session:
        conn = session.connection()
        if db.dialect == "sqlite":  # the index tables hold no entry of the swept chunks
            assert (
                conn.execute(
                    text("SELECT count(*) FROM knowledge_fts WHERE knowledge_fts MATCH 'refund'")
                ).scalar_one()
                == 0
            )
            assert (
                conn.execute(
                    text(
                        f"SELECT count(*) FROM knowledge_vec_{embedder.dimensions} "
                        "WHERE vector_store_id = :store"
                    ),
                    {"store": old.id},
                ).scalar_one()
                == 0
            )
        rows = {
            row.id: row
            for row in session.scalars(
                select(VectorStoreFile).where(VectorStoreFile.vector_store_id == old.id)
            )
        }
        assert {row.status for row in rows.values()} == {"completed", "cancelled"}
        assert rows[queued].status == "cancelled"
        assert all(row.usage_bytes == 0 for row in rows.values())
        store = session.scalar(select(VectorStore).where(VectorStore.id == old.id))
        assert store is not None
        assert stores.store_status(store, stores.file_counts(session, [old.id])[old.id]) == (
            "expired"
        )
        live = session.scalar(select(VectorStore).where(VectorStore.id == kept.id))
        assert live is not None
        hits = search(session, stores=[live], embedder=embedder, queries=["warehouse"])
        assert [h.filename for h in hits] == ["shipping.md"]
        assert (
            session.scalar(
                select(func.count())
                .select_from(StoredFile)
                .where(StoredFile.id.in_([unique, shared]))
            )
            == 0
        )
    with pytest.raises(FileNotFoundError):
        blobs.read(sha[unique])
    assert blobs.read(sha[shared]) == SHIPPING  # the kept store's file still has these bytes

    assert sweep(db, blobs) == Swept(stores=0, files=0, blobs=0, orphans=0)


def test_sweep_deletes_blobs_no_file_names_after_the_grace_period(knowledge: Knowledge) -> None:
    db = knowledge.services.db
    blobs = blob_store(knowledge.services.settings)
    assert isinstance(blobs, LocalBlobs)
    named = knowledge.upload("kept.md", GUIDE)
    long_ago = time.time() - ORPHAN_GRACE_SECONDS - 60

    def orphan(data: bytes, *, written: float) -> str:
        """A blob stored by an upload whose process died before recording the file."""
        staged = stage(io.BytesIO(data), folder=blobs.staging, limit=1 << 20)
        blobs.put(staged)
        os.utime(blobs.root / staged.sha256[:2] / staged.sha256[2:], (written, written))
        return staged.sha256

    old = orphan(b"left by a killed upload", written=long_ago)
    fresh = orphan(b"an upload still recording its row", written=time.time())
    revived = orphan(SHIPPING, written=long_ago)
    blobs.put(stage(io.BytesIO(SHIPPING), folder=blobs.staging, limit=1 << 20))  # uploaded again
    leftover = stage(io.BytesIO(b"half an upload"), folder=blobs.staging, limit=1 << 20).path
    os.utime(leftover, (long_ago, long_ago))
    with db.session() as session:
        named_sha = session.scalar(select(StoredFile.sha256).where(StoredFile.id == named))
    assert named_sha is not None
    named_path = blobs.root / named_sha[:2] / named_sha[2:]
    os.utime(named_path, (long_ago, long_ago))

    assert sweep(db, blobs) == Swept(stores=0, files=0, blobs=0, orphans=2)

    with pytest.raises(FileNotFoundError):
        blobs.read(old)
    assert not leftover.exists()
    assert blobs.read(fresh) == b"an upload still recording its row"
    assert blobs.read(revived) == SHIPPING
    assert blobs.read(named_sha) == GUIDE
