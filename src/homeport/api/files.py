"""The Files API: multipart upload, list, retrieve, download content, delete.

An upload is copied to the blob store (hashed, size-limited) before any database transaction
opens, then recorded in one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from homeport.api.deps import ObjectIdentityDep, ProjectDep, ServicesDep, SessionDep
from homeport.api.json import JSONResponse
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.transactions import reads
from homeport.api.wire.common import render_deleted
from homeport.api.wire.knowledge import render_file
from homeport.errors import InvalidRequest
from homeport.knowledge import files
from homeport.knowledge.blobs import blob_store
from homeport.store.models.knowledge import StoredFile

router = APIRouter(tags=["Files"])


@router.post("/files")
async def upload_file(
    request: Request,
    services: ServicesDep,
    project_id: ProjectDep,
    identity: ObjectIdentityDep,
    file: Annotated[UploadFile | None, File()] = None,
    purpose: Annotated[str | None, Form()] = None,
    anchor: Annotated[str | None, Form(alias="expires_after[anchor]")] = None,
    seconds: Annotated[int | None, Form(alias="expires_after[seconds]")] = None,
) -> JSONResponse:
    if file is None:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    if purpose is None:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    files.check_purpose(purpose)
    expires = files.expires_at(purpose, anchor, seconds)
    limit = services.settings.knowledge.max_file_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise InvalidRequest(
            f"File is too large: the limit is {limit} bytes (knowledge.max_file_bytes).",
            param="file",
            code="file_too_large",
        )
    blobs = blob_store(services.settings)
    staged = await run_in_threadpool(files.store_upload, blobs, file.file, limit=limit)
    filename = file.filename or ""
    if not filename.strip():
        raise InvalidRequest("The uploaded file has no name.", param="file")
    with services.db.session() as session:
        row = files.create_file(
            session,
            project_id=project_id,
            staged=staged,
            filename=filename,
            purpose=purpose,
            expires=expires,
            file_id=identity[0],
            created_at=identity[1],
        )
        body = render_file(row)
    return JSONResponse(body)


@router.get("/files")
@reads
def list_files(
    session: Session,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
    purpose: str | None = None,
) -> JSONResponse:
    rows, has_more = paginate(session, files.visible_files(project_id, purpose), StoredFile, page)
    return JSONResponse(list_page(rows, has_more, render_file))


@router.get("/files/{file_id}")
@reads
def retrieve_file(file_id: str, session: Session, project_id: ProjectDep) -> JSONResponse:
    return JSONResponse(render_file(files.get_file(session, project_id, file_id)))


@router.get("/files/{file_id}/content")
def download_file(
    file_id: str, services: ServicesDep, session: SessionDep, project_id: ProjectDep
) -> StreamingResponse:
    row = files.get_file(session, project_id, file_id)
    blobs = blob_store(services.settings)
    chunks = blobs.open(row.sha256)
    try:
        first = next(chunks, b"")
    except FileNotFoundError as exc:
        raise InvalidRequest(f"The content of file {file_id} is missing.") from exc

    def stream() -> Iterator[bytes]:
        yield first
        yield from chunks

    return StreamingResponse(
        stream(),
        media_type="application/octet-stream",
        headers={
            "content-disposition": f'attachment; filename="{row.filename}"',
            "content-length": str(row.bytes),
        },
    )


@router.delete("/files/{file_id}")
def delete_file(file_id: str, services: ServicesDep, project_id: ProjectDep) -> JSONResponse:
    with services.db.session() as session:
        orphan = files.delete_file(session, project_id, file_id)
    if orphan is not None:
        blob_store(services.settings).delete(orphan)
    return JSONResponse(render_deleted(file_id, "file") | {"object": "file"})
