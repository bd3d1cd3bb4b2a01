"""Vector stores, their files and file batches: the state behind the vector stores API.

A store's status is derived, never stored: ``expired`` past ``expires_at``, ``in_progress``
while any of its files is, else ``completed``. Files end ``completed``, ``failed`` (with
``last_error``) or ``cancelled``, so a store cannot be left ``in_progress`` by a bad file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.orm import Session

from homeport.errors import InvalidRequest, NotFound
from homeport.ids import new_id
from homeport.knowledge.blobs import BlobStore
from homeport.knowledge.chunking import resolve_strategy
from homeport.knowledge.files import get_file
from homeport.knowledge.index import search_index
from homeport.knowledge.parsing import parse
from homeport.store.models.base import now
from homeport.store.models.knowledge import (
    Chunk,
    VectorStore,
    VectorStoreFile,
    VectorStoreFileBatch,
)

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")
MAX_ATTRIBUTES = 16


@dataclass
class FileCounts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled

    def as_dict(self) -> dict[str, int]:
        return {
            "in_progress": self.in_progress,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "total": self.total,
        }


def check_attributes(attributes: Any, param: str = "attributes") -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
        raise InvalidRequest(
            f"Invalid value for '{param}': expected an object with at most {MAX_ATTRIBUTES} "
            "properties.",
            param=param,
        )
    for key, value in attributes.items():
        if len(key) > 64:
            raise InvalidRequest(
                f"Invalid key in '{param}': '{key[:64]}…' is over 64 characters.", param=param
            )
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, str) and len(value) > 512
        ):
            raise InvalidRequest(
                f"Invalid value for '{param}.{key}': expected a string of at most 512 "
                "characters, a number or a boolean.",
                param=f"{param}.{key}",
            )
    return dict(attributes)


def expires_at(store: VectorStore) -> int | None:
    policy = store.expires_after
    if not policy:
        return None
    return int(store.last_active_at) + int(policy["days"]) * 86400


def is_expired(store: VectorStore, moment: int | None = None) -> bool:
    """Past ``expires_at``: for good, since an expired store is never touched or extended."""
    expiry = expires_at(store)
    return expiry is not None and expiry <= (now() if moment is None else moment)


def store_status(store: VectorStore, counts: FileCounts) -> str:
    if is_expired(store):
        return "expired"
    return "in_progress" if counts.in_progress else "completed"


def get_store(
    session: Session, project_id: str, store_id: str, *, param: str = "vector_store_id"
) -> VectorStore:
    """The project's vector store, or 404 naming ``param`` (where the request named it)."""
    row = session.scalar(
        select(VectorStore).where(VectorStore.id == store_id, VectorStore.project_id == project_id)
    )
    if row is None:
        raise NotFound(f"No vector store found with id '{store_id}'.", param=param)
    return row


def usable_store(session: Session, project_id: str, store_id: str) -> VectorStore:
    """A store that may be searched or extended: not expired."""
    store = get_store(session, project_id, store_id)
    if is_expired(store):
        raise InvalidRequest(
            f"Vector store {store_id} has expired: create a new one or raise its expires_after.",
            param="vector_store_id",
        )
    return store


def file_counts(
    session: Session, store_ids: Iterable[str], *, batch_id: str | None = None
) -> dict[str, FileCounts]:
    ids = list(store_ids)
    counts = {store_id: FileCounts() for store_id in ids}
    if not ids:
        return counts
    stmt = select(VectorStoreFile.vector_store_id, VectorStoreFile.status, func.count()).where(
        VectorStoreFile.vector_store_id.in_(ids)
    )
    if batch_id is not None:
        stmt = stmt.where(VectorStoreFile.batch_id == batch_id)
    stmt = stmt.group_by(VectorStoreFile.vector_store_id, VectorStoreFile.status)
    for store_id, status, count in session.execute(stmt):
        setattr(counts[store_id], status, count)
    return counts


def usage_bytes(session: Session, store_ids: Iterable[str]) -> dict[str, int]:
    ids = list(store_ids)
    rows = session.execute(
        select(
            VectorStoreFile.vector_store_id, func.coalesce(func.sum(VectorStoreFile.usage_bytes), 0)
        )
        .where(VectorStoreFile.vector_store_id.in_(ids))
        .group_by(VectorStoreFile.vector_store_id)
    )
    usage = dict.fromkeys(ids, 0)
    usage.update({store_id: int(total) for store_id, total in rows})
    return usage


def create_store(
    session: Session,
    *,
    project_id: str,
    embedding_model: str,
    name: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    expires_after: dict[str, Any] | None = None,
    file_ids: list[str] | None = None,
    chunking_strategy: dict[str, Any] | None = None,
    conversation_id: str | None = None,
    store_id: str | None = None,
    created_at: int | None = None,
) -> VectorStore:
    strategy = resolve_strategy(chunking_strategy)
    stamp = created_at or now()
    store = VectorStore(
        id=store_id or new_id("vs"),
        project_id=project_id,
        name=name or "",
        description=description,
        metadata_=metadata or {},
        expires_after=expires_after,
        embedding_model=embedding_model,
        conversation_id=conversation_id,
        created_at=stamp,
        last_active_at=stamp,
    )
    session.add(store)
    session.flush()
    for index, file_id in enumerate(file_ids or []):
        add_file(session, store, file_id, strategy=strategy, param=f"file_ids[{index}]")
    return store


def add_file(
    session: Session,
    store: VectorStore,
    file_id: str,
    *,
    strategy: dict[str, Any],
    attributes: dict[str, Any] | None = None,
    batch_id: str | None = None,
    param: str = "file_id",
) -> VectorStoreFile:
    """Queue a file for ingestion into ``store`` (idempotent: a file already there is returned
    as it is, unless it failed or was cancelled, then it is queued again)."""
    source = get_file(session, store.project_id, file_id, param=param)
    row = session.scalar(
        select(VectorStoreFile).where(
            VectorStoreFile.vector_store_id == store.id, VectorStoreFile.id == file_id
        )
    )
    if row is not None and row.status in ("in_progress", "completed"):
        return row
    if row is None:
        row = VectorStoreFile(id=file_id, vector_store_id=store.id, project_id=store.project_id)
        session.add(row)
    row.filename = source.filename
    row.status = "in_progress"
    row.last_error = None
    row.chunking_strategy = strategy
    row.attributes = attributes or {}
    row.batch_id = batch_id
    row.lease_owner = None
    row.lease_expires_at = None
    row.attempts = 0
    row.created_at = now()
    session.flush()
    return row


def get_store_file(session: Session, store: VectorStore, file_id: str) -> VectorStoreFile:
    row = session.scalar(
        select(VectorStoreFile).where(
            VectorStoreFile.vector_store_id == store.id, VectorStoreFile.id == file_id
        )
    )
    if row is None:
        raise NotFound(
            f"No file found with id '{file_id}' in vector store '{store.id}'.", param="file_id"
        )
    return row


def parsed_text(session: Session, blobs: BlobStore, store: VectorStore, file_id: str) -> str:
    """A store file's text as the parser gives it to the chunker: read from its file again,
    so it is whole (chunks overlap) and costs no storage."""
    get_store_file(session, store, file_id)
    source = get_file(session, store.project_id, file_id)
    try:
        data = blobs.read(source.sha256)
    except FileNotFoundError as exc:
        raise NotFound(f"The content of file {file_id} is missing.", param="file_id") from exc
    return parse(data, source.filename)


def drop_chunks(conn: Connection, store_id: str, file_id: str | None = None) -> None:
    """Delete the chunks of a store (or of one file in it) and their index entries."""
    stmt = select(Chunk.seq, Chunk.dims).where(Chunk.vector_store_id == store_id)
    if file_id is not None:
        stmt = stmt.where(Chunk.file_id == file_id)
    by_dims: dict[int, list[int]] = {}
    for seq, dims in conn.execute(stmt):
        by_dims.setdefault(dims, []).append(seq)
    index = search_index(conn.dialect.name)
    for dims, seqs in by_dims.items():
        index.ensure(conn, dims)
        index.remove(conn, dims, seqs)
    cleanup = delete(Chunk).where(Chunk.vector_store_id == store_id)
    if file_id is not None:
        cleanup = cleanup.where(Chunk.file_id == file_id)
    conn.execute(cleanup)


def remove_file(session: Session, store: VectorStore, file_id: str) -> None:
    row = get_store_file(session, store, file_id)
    drop_chunks(session.connection(), store.id, file_id)
    session.delete(row)
    session.flush()


def delete_store(session: Session, store: VectorStore) -> None:
    drop_chunks(session.connection(), store.id)
    session.execute(delete(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id))
    session.execute(
        delete(VectorStoreFileBatch).where(VectorStoreFileBatch.vector_store_id == store.id)
    )
    session.delete(store)
    session.flush()


def create_batch(
    session: Session,
    store: VectorStore,
    files: list[tuple[str, dict[str, Any], dict[str, Any]]],
) -> VectorStoreFileBatch:
    """Queue ``(file_id, strategy, attributes)`` triples as one batch."""
    batch = VectorStoreFileBatch(
        id=new_id("vsfb"), vector_store_id=store.id, project_id=store.project_id
    )
    session.add(batch)
    for index, (file_id, strategy, attributes) in enumerate(files):
        add_file(
            session,
            store,
            file_id,
            strategy=strategy,
            attributes=attributes,
            batch_id=batch.id,
            param=f"file_ids[{index}]",
        )
    session.flush()
    return batch


def get_batch(session: Session, store: VectorStore, batch_id: str) -> VectorStoreFileBatch:
    row = session.scalar(
        select(VectorStoreFileBatch).where(
            VectorStoreFileBatch.id == batch_id, VectorStoreFileBatch.vector_store_id == store.id
        )
    )
    if row is None:
        raise NotFound(f"No file batch found with id '{batch_id}'.", param="batch_id")
    return row


def cancel_batch(session: Session, batch: VectorStoreFileBatch) -> None:
    """Cancel the batch's files not yet indexed; a worker holding one drops its result."""
    batch.cancelled = True
    session.execute(
        update(VectorStoreFile)
        .where(VectorStoreFile.batch_id == batch.id, VectorStoreFile.status == "in_progress")
        .values(status="cancelled", lease_owner=None, lease_expires_at=None)
    )
    session.flush()


def batch_status(batch: VectorStoreFileBatch, counts: FileCounts) -> str:
    if counts.in_progress:
        return "in_progress"
    if batch.cancelled:
        return "cancelled"
    return "failed" if counts.failed and not counts.completed else "completed"
