"""The sweep: what expiry leaves behind is removed.

- A vector store past its ``expires_at`` is ``expired`` at once (its status is derived) and is
  never searched or extended again. The sweep deletes its chunks and their index entries,
  cancels its files still queued and sets their ``usage_bytes`` to 0; the store and its list of
  files stay, as on OpenAI.
- A file past its own ``expires_at`` is already invisible; the sweep deletes its row and then
  its blob, unless another file has the same content.
- A blob no file row names, written more than ``ORPHAN_GRACE_SECONDS`` ago, is deleted: a
  process killed between storing an upload and recording its row, or between deleting a row and
  its blob, leaves one. So is a staged upload copy that old. The grace period covers an upload
  in flight (a blob written again restarts it).

The ingestion worker sweeps every ``knowledge.sweep_seconds``. Every step is idempotent and
each store is swept in its own short transaction, so processes may sweep at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update

from homeport.knowledge.blobs import BlobStore
from homeport.knowledge.stores import drop_chunks, is_expired
from homeport.store.db import Database
from homeport.store.models.base import now
from homeport.store.models.knowledge import StoredFile, VectorStore, VectorStoreFile

BATCH = 500
ORPHAN_GRACE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Swept:
    stores: int
    """Expired stores whose chunks and queued files were removed by this sweep."""
    files: int
    """Expired files deleted."""
    blobs: int
    """Blobs of expired files deleted (no file left with that content)."""
    orphans: int
    """Blobs and staged copies deleted that no file row named (what killed processes left)."""


def _expired_stores_with_contents(db: Database, moment: int) -> list[str]:
    with db.session() as session:
        expiring = session.scalars(
            select(VectorStore).where(VectorStore.expires_after.is_not(None))
        )
        expired = [store.id for store in expiring if is_expired(store, moment)]
        holding: list[str] = []
        for first in range(0, len(expired), BATCH):
            holding += session.scalars(
                select(VectorStoreFile.vector_store_id)
                .where(
                    VectorStoreFile.vector_store_id.in_(expired[first : first + BATCH]),
                    or_(VectorStoreFile.status == "in_progress", VectorStoreFile.usage_bytes > 0),
                )
                .distinct()
            )
        return holding


def _empty_store(db: Database, store_id: str) -> None:
    with db.session() as session:
        drop_chunks(session.connection(), store_id)
        session.execute(
            update(VectorStoreFile)
            .where(
                VectorStoreFile.vector_store_id == store_id,
                VectorStoreFile.status == "in_progress",
            )
            .values(status="cancelled", lease_owner=None, lease_expires_at=None)
        )
        session.execute(
            update(VectorStoreFile)
            .where(VectorStoreFile.vector_store_id == store_id, VectorStoreFile.usage_bytes > 0)
            .values(usage_bytes=0)
        )


def _delete_expired_files(db: Database, blobs: BlobStore, moment: int) -> tuple[int, int]:
    with db.session() as session:
        rows = session.execute(
            select(StoredFile.seq, StoredFile.sha256).where(StoredFile.expires_at <= moment)
        ).all()
        for first in range(0, len(rows), BATCH):
            part = [seq for seq, _ in rows[first : first + BATCH]]
            session.execute(delete(StoredFile).where(StoredFile.seq.in_(part)))
    # After the rows are gone (committed): a failure here leaves a blob, never a row without one.
    deleted = 0
    for sha in {sha for _, sha in rows}:
        with db.session() as session:
            if session.scalar(select(func.count()).where(StoredFile.sha256 == sha)):
                continue
        blobs.delete(sha)
        deleted += 1
    return len(rows), deleted


def _delete_orphans(db: Database, blobs: BlobStore, before: float) -> int:
    deleted = blobs.clear_staging(before)
    candidates = [sha for sha, written in blobs.listing() if written < before]
    for first in range(0, len(candidates), BATCH):
        part = candidates[first : first + BATCH]
        with db.session() as session:
            named = set(
                session.scalars(select(StoredFile.sha256).where(StoredFile.sha256.in_(part)))
            )
        for sha in part:
            if sha not in named:
                blobs.delete(sha)
                deleted += 1
    return deleted


def sweep(db: Database, blobs: BlobStore, *, moment: int | None = None) -> Swept:
    moment = now() if moment is None else moment
    store_ids = _expired_stores_with_contents(db, moment)
    for store_id in store_ids:
        _empty_store(db, store_id)
    files, deleted = _delete_expired_files(db, blobs, moment)
    orphans = _delete_orphans(db, blobs, moment - ORPHAN_GRACE_SECONDS)
    return Swept(len(store_ids), files, deleted, orphans)
