"""Files and vector stores into homeport's knowledge layer: blobs into the blob store, rows into
the files and vector store tables, then every imported store file parsed, chunked and embedded
with the local model through the ingestion jobs (``homeport.knowledge.ingest``).

Ingestion is resumable: queued store files are the job queue. Leases left by an import that died
are taken over at once (their owner names an import), and chunks whose text was embedded before
are not embedded again.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update

from homeport.bundle import BundleError, BundleReader, Record
from homeport.config import Settings
from homeport.importer import rows
from homeport.knowledge.blobs import BlobStore, blob_store, stage
from homeport.knowledge.embeddings import embedder_name, get_embedder
from homeport.knowledge.ingest import Ingestor, claim
from homeport.store.db import Database
from homeport.store.models.knowledge import StoredFile, VectorStoreFile

OWNER_PREFIX = "homeport-import:"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
QUEUED = ("completed", "in_progress", None)


def import_owner() -> str:
    return f"{OWNER_PREFIX}{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def store_blob(reader: BundleReader, blobs: BlobStore, sha256: str | None, limit: int) -> str:
    """Copy one bundle blob into the blob store (the empty blob for ``None``); returns its sha."""
    if sha256 is None:
        staged = stage(io.BytesIO(), folder=blobs.staging, limit=limit)
    else:
        if not reader.has_blob(sha256):
            raise BundleError(f"blob {sha256} is missing from the bundle: run 'bundle verify'")
        with reader.open_blob(sha256) as handle:
            staged = stage(handle, folder=blobs.staging, limit=limit)
    if staged.sha256 != (sha256 or EMPTY_SHA256):
        staged.path.unlink(missing_ok=True)
        raise BundleError(f"blob {sha256} does not hash to its name: the bundle is damaged")
    blobs.put(staged)
    return staged.sha256


def file_row(record: Record, reader: BundleReader, blobs: BlobStore, limit: int) -> rows.Row:
    """The file's row, its content stored: the bytes, else the parsed text, else nothing."""
    content = record.get("sha256") or record.get("text_sha256")
    return {**rows.file(record), "sha256": store_blob(reader, blobs, content, limit)}


def store_file_rows(conn: Any, records: list[Record], project_id: str) -> list[rows.Row]:
    """Vector store file rows, queued for ingestion unless the platform had given up on them."""
    ids = {r["id"] for r in records}
    stmt = select(StoredFile.id, StoredFile.filename).where(StoredFile.id.in_(ids))
    names = {file_id: filename for file_id, filename in conn.execute(stmt)}
    out = []
    for record in records:
        status = record.get("status")
        raw = record.get("raw") or {}
        out.append(
            {
                **rows.vector_store_file(record),
                "project_id": project_id,
                "filename": names.get(record["id"], record["id"]),
                "status": "in_progress" if status in QUEUED else status,
                "last_error": None if status in QUEUED else raw.get("last_error"),
                "usage_bytes": 0,
                "attempts": 0,
            }
        )
    return out


def ingest(
    db: Database,
    settings: Settings,
    store_ids: list[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Index every queued file of ``store_ids``; returns the final status counts."""
    owner = import_owner()
    with db.session() as session:
        session.execute(
            update(VectorStoreFile)
            .where(
                VectorStoreFile.vector_store_id.in_(store_ids),
                VectorStoreFile.status == "in_progress",
                VectorStoreFile.lease_owner.startswith(OWNER_PREFIX),
            )
            .values(lease_owner=None, lease_expires_at=None)
        )
        statuses = _statuses(session, store_ids)
    total = sum(statuses.values())
    pending = statuses.get("in_progress", 0)
    done = total - pending
    if progress is not None:
        progress(done, total)
    if pending:
        knowledge = settings.knowledge
        ingestor = Ingestor(
            db,
            blob_store(settings),
            get_embedder(knowledge),
            lease_seconds=knowledge.lease_seconds,
        )
        for store_id in store_ids:
            while jobs := claim(
                db, owner, lease_seconds=knowledge.lease_seconds, store_id=store_id
            ):
                for job in jobs:
                    ingestor.process(job, owner)
                    done += 1
                    if progress is not None:
                        progress(done, total)
    with db.session() as session:
        return _statuses(session, store_ids)


def _statuses(session: Any, store_ids: list[str]) -> dict[str, int]:
    stmt = (
        select(VectorStoreFile.status, func.count())
        .where(VectorStoreFile.vector_store_id.in_(store_ids))
        .group_by(VectorStoreFile.status)
    )
    return {status: int(count) for status, count in session.execute(stmt)}


def embedding_model(settings: Settings) -> str:
    return embedder_name(settings.knowledge)
