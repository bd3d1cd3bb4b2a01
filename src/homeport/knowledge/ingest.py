"""Ingestion jobs: a vector store file ``in_progress`` is a job, claimed with a lease.

A worker claims jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock serialises
claims), reads the blob, parses, chunks, embeds (a chunk whose text was embedded before by the
same model reuses that vector) and writes chunks, index entries and the final status in one
transaction, but only if it still holds the lease and the file is still ``in_progress``
(a cancelled or removed file drops the work). A worker that dies leaves a lease that expires; the
next claim takes the job again. Every failure ends the file ``failed`` with ``last_error``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import ColumnElement, and_, insert, or_, select, update

from homeport.errors import HomeportError
from homeport.knowledge.blobs import BlobStore
from homeport.knowledge.chunking import TextChunk, chunk_text
from homeport.knowledge.embeddings import Embedder
from homeport.knowledge.index import search_index
from homeport.knowledge.parsing import ParseError, parse
from homeport.knowledge.stores import drop_chunks
from homeport.store.db import Database
from homeport.store.models.knowledge import Chunk, StoredFile, VectorStore, VectorStoreFile

log = logging.getLogger("homeport.knowledge")

MAX_ATTEMPTS = 3
Job = tuple[str, str]
"""``(vector_store_id, file_id)``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    chunks: int = 0
    reused: int = 0


class IngestFailure(HomeportError):
    """A file that cannot be indexed; ``code`` is OpenAI's last_error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def claim(
    db: Database,
    owner: str,
    *,
    lease_seconds: float,
    limit: int = 1,
    store_id: str | None = None,
) -> list[Job]:
    """Lease up to ``limit`` queued files (unleased, or whose lease expired)."""
    moment = time.time()
    with db.session() as session:
        stmt = (
            select(VectorStoreFile.seq, VectorStoreFile.vector_store_id, VectorStoreFile.id)
            .where(
                VectorStoreFile.status == "in_progress",
                or_(
                    VectorStoreFile.lease_expires_at.is_(None),
                    VectorStoreFile.lease_expires_at < moment,
                ),
            )
            .order_by(VectorStoreFile.seq)
            .limit(limit)
        )
        if store_id is not None:
            stmt = stmt.where(VectorStoreFile.vector_store_id == store_id)
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = session.execute(stmt).all()
        if rows:
            session.execute(
                update(VectorStoreFile)
                .where(VectorStoreFile.seq.in_([r.seq for r in rows]))
                .values(
                    lease_owner=owner,
                    lease_expires_at=moment + lease_seconds,
                    attempts=VectorStoreFile.attempts + 1,
                )
            )
        return [(r.vector_store_id, r.id) for r in rows]


def _held(store_id: str, file_id: str, owner: str) -> ColumnElement[bool]:
    return and_(
        VectorStoreFile.vector_store_id == store_id,
        VectorStoreFile.id == file_id,
        VectorStoreFile.lease_owner == owner,
        VectorStoreFile.status == "in_progress",
    )


def fail_job(db: Database, job: Job, owner: str, code: str, message: str) -> None:
    """End a held job ``failed`` with OpenAI's ``last_error`` shape."""
    with db.session() as session:
        session.execute(
            update(VectorStoreFile)
            .where(_held(*job, owner))
            .values(
                status="failed",
                last_error={"code": code, "message": message},
                lease_owner=None,
                lease_expires_at=None,
            )
        )


class Ingestor:
    """Processes claimed jobs for one database with one embedder and blob store."""

    def __init__(
        self, db: Database, blobs: BlobStore, embedder: Embedder, *, lease_seconds: float = 60.0
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.embedder = embedder
        self.lease_seconds = lease_seconds
        self.index = search_index(db.dialect)

    def renew(self, job: Job, owner: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(VectorStoreFile)
                .where(_held(*job, owner))
                .values(lease_expires_at=time.time() + self.lease_seconds)
            )

    def process(
        self, job: Job, owner: str, *, progress: Callable[[int], None] | None = None
    ) -> Outcome:
        """Index one claimed file; never raises for a bad file (it ends ``failed``)."""
        store_id, file_id = job
        try:
            return self._index(job, owner, progress)
        except (ParseError, IngestFailure) as exc:
            return self._fail(job, owner, exc.code or "invalid_file", exc.message)
        except Exception as exc:
            log.exception("indexing %s into %s failed", file_id, store_id)
            with self.db.session() as session:
                attempts = session.scalar(
                    select(VectorStoreFile.attempts).where(_held(*job, owner))
                )
            if attempts is not None and attempts < MAX_ATTEMPTS:
                self.release(job, owner)
                return Outcome("in_progress")
            return self._fail(job, owner, "server_error", f"Indexing failed: {exc}")

    def _load(self, job: Job) -> tuple[VectorStoreFile, StoredFile | None, VectorStore]:
        store_id, file_id = job
        with self.db.session() as session:
            row = session.scalar(
                select(VectorStoreFile).where(
                    VectorStoreFile.vector_store_id == store_id, VectorStoreFile.id == file_id
                )
            )
            store = session.scalar(select(VectorStore).where(VectorStore.id == store_id))
            if row is None or store is None:
                raise IngestFailure("invalid_file", "The file was removed from the store.")
            source = session.scalar(select(StoredFile).where(StoredFile.id == file_id))
            return row, source, store

    def _index(self, job: Job, owner: str, progress: Callable[[int], None] | None) -> Outcome:
        row, source, store = self._load(job)
        if store.embedding_model != self.embedder.name:
            raise IngestFailure(
                "server_error",
                f"Vector store {store.id} is embedded with '{store.embedding_model}' but this "
                f"server embeds with '{self.embedder.name}': one index never mixes models.",
            )
        if source is None:
            raise IngestFailure("invalid_file", "The file was deleted before it was indexed.")
        try:
            data = self.blobs.read(source.sha256)
        except FileNotFoundError as exc:
            raise IngestFailure("invalid_file", "The file's content is missing.") from exc
        chunks = chunk_text(parse(data, source.filename), row.chunking_strategy)
        vectors, reused = self._embed(job, owner, chunks, progress)
        return self._commit(job, owner, chunks, vectors, reused)

    def _embed(
        self,
        job: Job,
        owner: str,
        chunks: list[TextChunk],
        progress: Callable[[int], None] | None,
    ) -> tuple[list[np.ndarray], int]:
        """Embed each distinct chunk text once; reuse vectors this model made before."""
        hashes = [hashlib.sha256(c.text.encode()).hexdigest() for c in chunks]
        known: dict[str, np.ndarray] = {}
        with self.db.session() as session:
            distinct = list(dict.fromkeys(hashes))
            for start in range(0, len(distinct), 500):
                part = distinct[start : start + 500]
                for content_hash, vector in session.execute(
                    select(Chunk.content_hash, Chunk.embedding).where(
                        Chunk.model == self.embedder.name, Chunk.content_hash.in_(part)
                    )
                ):
                    known[content_hash] = vector
        reused = sum(1 for h in hashes if h in known)
        todo = {h: c.text for h, c in zip(hashes, chunks, strict=True) if h not in known}
        pending = list(todo.items())
        step = 256
        last_renew = time.monotonic()
        for start in range(0, len(pending), step):
            batch = pending[start : start + step]
            vectors = self.embedder.embed([body for _, body in batch])
            known.update({h: v for (h, _), v in zip(batch, vectors, strict=True)})
            if progress is not None:
                progress(len(batch))
            if time.monotonic() - last_renew > self.lease_seconds / 3:
                self.renew(job, owner)
                last_renew = time.monotonic()
        if progress is not None and reused:
            progress(reused)
        return [known[h] for h in hashes], reused

    def _commit(
        self,
        job: Job,
        owner: str,
        chunks: list[TextChunk],
        vectors: list[np.ndarray],
        reused: int,
    ) -> Outcome:
        store_id, file_id = job
        dims = self.embedder.dimensions
        with self.db.session() as session:
            held = session.scalar(select(VectorStoreFile.seq).where(_held(*job, owner)))
            if held is None:
                return Outcome("dropped")
            conn = session.connection()
            self.index.ensure(conn, dims)
            drop_chunks(conn, store_id, file_id)
            seqs: list[int] = []
            rows = [
                {
                    "vector_store_id": store_id,
                    "file_id": file_id,
                    "n": c.n,
                    "text": c.text,
                    "tokens": c.tokens,
                    "model": self.embedder.name,
                    "dims": dims,
                    "content_hash": hashlib.sha256(c.text.encode()).hexdigest(),
                    "embedding": v,
                }
                for c, v in zip(chunks, vectors, strict=True)
            ]
            for start in range(0, len(rows), 1000):
                result = conn.execute(
                    insert(Chunk).returning(Chunk.seq, sort_by_parameter_order=True),
                    rows[start : start + 1000],
                )
                seqs.extend(result.scalars())
            self.index.add(
                conn,
                dims,
                [(seq, store_id, file_id, c.text) for seq, c in zip(seqs, chunks, strict=True)],
            )
            usage = sum(len(c.text.encode()) for c in chunks) + len(chunks) * dims * 4
            session.execute(
                update(VectorStoreFile)
                .where(_held(*job, owner))
                .values(
                    status="completed",
                    usage_bytes=usage,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=None,
                )
            )
        return Outcome("completed", len(chunks), reused)

    def _fail(self, job: Job, owner: str, code: str, message: str) -> Outcome:
        fail_job(self.db, job, owner, code, message)
        return Outcome("failed")

    def release(self, job: Job, owner: str) -> None:
        """Give a claimed job back to the queue (another claim may take it at once)."""
        with self.db.session() as session:
            session.execute(
                update(VectorStoreFile)
                .where(_held(*job, owner))
                .values(lease_owner=None, lease_expires_at=None)
            )
