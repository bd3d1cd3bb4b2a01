"""Uploaded files: create (stage, hash, store the blob, insert the row), look up, delete.

A file's bytes are stored once per content (sha256); deleting the last file with that content
deletes the blob, after the row is gone, so a failed delete never leaves a row without bytes.
"""

from __future__ import annotations

from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from homeport.errors import InvalidRequest, NotFound
from homeport.ids import new_id
from homeport.knowledge.blobs import BlobStore, Staged, stage
from homeport.store.models.base import now
from homeport.store.models.knowledge import StoredFile

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
ALL_PURPOSES = (*UPLOAD_PURPOSES, "assistants_output", "batch_output", "fine-tune-results")
MIN_EXPIRY, MAX_EXPIRY = 3600, 2_592_000
BATCH_EXPIRY = 30 * 86400


def check_purpose(purpose: str) -> None:
    if purpose not in UPLOAD_PURPOSES:
        raise InvalidRequest(
            f"'{purpose}' is not one of {list(UPLOAD_PURPOSES)} - 'purpose'", param="purpose"
        )


def expires_at(purpose: str, anchor: str | None, seconds: int | None) -> int | None:
    """The expiry OpenAI gives a new file: ``expires_after`` if sent, else 30 days for batch."""
    if anchor is None and seconds is None:
        return now() + BATCH_EXPIRY if purpose == "batch" else None
    if anchor != "created_at":
        raise InvalidRequest(
            "Invalid value for 'expires_after.anchor': expected 'created_at'.",
            param="expires_after.anchor",
        )
    if seconds is None or not MIN_EXPIRY <= seconds <= MAX_EXPIRY:
        raise InvalidRequest(
            f"Invalid value for 'expires_after.seconds': must be between {MIN_EXPIRY} and "
            f"{MAX_EXPIRY}.",
            param="expires_after.seconds",
        )
    return now() + seconds


def store_upload(blobs: BlobStore, upload: IO[bytes], *, limit: int) -> Staged:
    """Copy an upload into the blob store (no database transaction is open meanwhile)."""
    staged = stage(upload, folder=blobs.staging, limit=limit)
    blobs.put(staged)
    return staged


def create_file(
    session: Session,
    *,
    project_id: str,
    staged: Staged,
    filename: str,
    purpose: str,
    expires: int | None = None,
    file_id: str | None = None,
    created_at: int | None = None,
) -> StoredFile:
    row = StoredFile(
        id=file_id or new_id("file", 22).replace("file_", "file-"),
        project_id=project_id,
        filename=filename,
        purpose=purpose,
        bytes=staged.size,
        sha256=staged.sha256,
        created_at=created_at or now(),
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    return row


def get_file(
    session: Session, project_id: str, file_id: str, *, param: str = "file_id"
) -> StoredFile:
    row = session.scalar(
        select(StoredFile).where(StoredFile.id == file_id, StoredFile.project_id == project_id)
    )
    if row is None or (row.expires_at is not None and row.expires_at <= now()):
        raise NotFound(f"No such File object: {file_id}", param=param)
    return row


def delete_file(session: Session, project_id: str, file_id: str) -> str | None:
    """Delete the row; returns the sha256 whose blob to delete after commit, if no other file
    shares it."""
    row = get_file(session, project_id, file_id)
    sha = row.sha256
    session.delete(row)
    session.flush()
    others = session.scalar(select(func.count()).where(StoredFile.sha256 == sha))
    return None if others else sha


def visible_files(project_id: str, purpose: str | None) -> Any:
    stmt = select(StoredFile).where(StoredFile.project_id == project_id)
    stmt = stmt.where((StoredFile.expires_at.is_(None)) | (StoredFile.expires_at > now()))
    if purpose is not None:
        stmt = stmt.where(StoredFile.purpose == purpose)
    return stmt
