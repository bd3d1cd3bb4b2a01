"""The vector stores API: stores, their files, file batches and search.

Adding files queues them; the ingestion worker (started with this router, see
homeport.knowledge.worker) indexes them in the background and is woken after each commit.
Responses that clients poll carry ``openai-poll-after-ms`` so SDK helpers such as
``upload_and_poll`` look again soon.

Search results and file content come as one page: ``has_more`` is false and ``next_page`` null,
as on OpenAI, whose search request has no page parameter (``max_num_results``, at most 50, is
the only limit; unknown fields are refused) and whose SDKs read these pages as never having a
next one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from homeport.api.deps import ObjectIdentityDep, ProjectDep, ServicesDep, SessionDep
from homeport.api.json import JSONResponse
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.transactions import reads, writes
from homeport.api.wire.common import render_deleted
from homeport.api.wire.knowledge import (
    CreateVectorStoreFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    SearchRequest,
    UpdateVectorStoreFileRequest,
    UpdateVectorStoreRequest,
    render_batch,
    render_search_page,
    render_store,
    render_store_file,
)
from homeport.knowledge import stores
from homeport.knowledge.blobs import blob_store
from homeport.knowledge.chunking import resolve_strategy
from homeport.knowledge.embeddings import embedder_name, get_embedder
from homeport.knowledge.rewrite import rewrite_query
from homeport.knowledge.search import search, touch
from homeport.knowledge.worker import EXTRA_KEY, IngestWorker, wake_worker
from homeport.services import Services
from homeport.store.models.knowledge import VectorStore, VectorStoreFile

FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    worker: IngestWorker | None = None
    if services.settings.engine.embedded_worker:
        worker = IngestWorker(services)
        worker.start()
        services.extras[EXTRA_KEY] = worker
    try:
        yield
    finally:
        if worker is not None:
            services.extras.pop(EXTRA_KEY, None)
            await worker.stop()


router = APIRouter(tags=["Vector stores"], lifespan=lifespan)


def _poll_headers(services: Services) -> dict[str, str]:
    return {"openai-poll-after-ms": str(services.settings.knowledge.poll_after_ms)}


def _render_stores(session: Session, rows: list[VectorStore]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    counts = stores.file_counts(session, ids)
    usage = stores.usage_bytes(session, ids)
    return [render_store(row, counts[row.id], usage[row.id]) for row in rows]


def _respond_store(session: Session, store: VectorStore) -> JSONResponse:
    return JSONResponse(_render_stores(session, [store])[0])


@router.post("/vector_stores")
def create_vector_store(
    body: CreateVectorStoreRequest,
    services: ServicesDep,
    project_id: ProjectDep,
    identity: ObjectIdentityDep,
) -> JSONResponse:
    with services.db.session() as session:
        store = stores.create_store(
            session,
            project_id=project_id,
            embedding_model=embedder_name(services.settings.knowledge),
            name=body.name,
            description=body.description,
            metadata=body.metadata,
            expires_after=body.expires_after.model_dump() if body.expires_after else None,
            file_ids=body.file_ids,
            chunking_strategy=body.strategy(),
            store_id=identity[0],
            created_at=identity[1],
        )
        response = _respond_store(session, store)
    wake_worker(services)
    return response


@router.get("/vector_stores")
@reads
def list_vector_stores(
    session: Session,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> JSONResponse:
    stmt = select(VectorStore).where(VectorStore.project_id == project_id)
    rows, has_more = paginate(session, stmt, VectorStore, page)
    rendered = {r["id"]: r for r in _render_stores(session, rows)}
    return JSONResponse(list_page(rows, has_more, lambda row: rendered[row.id]))


@router.get("/vector_stores/{vector_store_id}")
@reads
def retrieve_vector_store(
    vector_store_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    return _respond_store(session, stores.get_store(session, project_id, vector_store_id))


@router.post("/vector_stores/{vector_store_id}")
@writes
def modify_vector_store(
    vector_store_id: str,
    body: UpdateVectorStoreRequest,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    sent = body.model_fields_set
    if "expires_after" in sent:  # an expired store stays expired: its index is swept away
        store = stores.usable_store(session, project_id, vector_store_id)
    else:
        store = stores.get_store(session, project_id, vector_store_id)
    if "name" in sent:
        store.name = body.name or ""
    if "expires_after" in sent:
        store.expires_after = body.expires_after.model_dump() if body.expires_after else None
    if "metadata" in sent:
        store.metadata_ = body.metadata or {}
    session.flush()
    return _respond_store(session, store)


@router.delete("/vector_stores/{vector_store_id}")
@writes
def delete_vector_store(
    vector_store_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    stores.delete_store(session, stores.get_store(session, project_id, vector_store_id))
    return JSONResponse(render_deleted(vector_store_id, "vector_store"))


@router.post("/vector_stores/{vector_store_id}/search")
def search_vector_store(
    vector_store_id: str,
    body: SearchRequest,
    services: ServicesDep,
    session: SessionDep,
    project_id: ProjectDep,
) -> JSONResponse:
    store = stores.usable_store(session, project_id, vector_store_id)
    queries = body.queries()
    if body.rewrite_query:
        queries = [rewrite_query(services.settings, q) for q in queries]
    ranking = body.ranking_options
    hybrid = ranking.hybrid_search if ranking is not None else None
    hits = search(
        session,
        stores=[store],
        embedder=get_embedder(services.settings.knowledge),
        queries=queries,
        max_results=body.max_num_results,
        filters=body.filters,
        score_threshold=ranking.score_threshold if ranking is not None else 0.0,
        mode="vector" if ranking is not None and ranking.ranker == "none" else "hybrid",
        text_weight=hybrid.text_weight if hybrid is not None else 1.0,
        embedding_weight=hybrid.embedding_weight if hybrid is not None else 1.0,
    )
    touch(session, [store])
    return JSONResponse(render_search_page(queries, hits))


# Vector store files ------------------------------------------------------------------------


def _files_page(
    session: Session,
    store: VectorStore,
    page: PageParams,
    status: FileStatus | None,
    batch_id: str | None = None,
) -> JSONResponse:
    scoped = select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id)
    if batch_id is not None:
        scoped = scoped.where(VectorStoreFile.batch_id == batch_id)
    # Page over this store's rows only: a file ID can be in several stores.
    model = aliased(VectorStoreFile, scoped.subquery())
    stmt = select(model)
    if status is not None:
        stmt = stmt.where(model.status == status)
    rows, has_more = paginate(session, stmt, model, page)
    return JSONResponse(list_page(rows, has_more, render_store_file))


@router.post("/vector_stores/{vector_store_id}/files")
def create_vector_store_file(
    vector_store_id: str,
    body: CreateVectorStoreFileRequest,
    services: ServicesDep,
    project_id: ProjectDep,
) -> JSONResponse:
    with services.db.session() as session:
        store = stores.usable_store(session, project_id, vector_store_id)
        row = stores.add_file(
            session,
            store,
            body.file_id,
            strategy=resolve_strategy(body.strategy()),
            attributes=body.attributes,
        )
        rendered = render_store_file(row)
    wake_worker(services)
    return JSONResponse(rendered, headers=_poll_headers(services))


@router.get("/vector_stores/{vector_store_id}/files")
@reads
def list_vector_store_files(
    vector_store_id: str,
    session: Session,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
    filter: FileStatus | None = None,
) -> JSONResponse:
    store = stores.get_store(session, project_id, vector_store_id)
    return _files_page(session, store, page, filter)


@router.get("/vector_stores/{vector_store_id}/files/{file_id}")
@reads
def retrieve_vector_store_file(
    vector_store_id: str,
    file_id: str,
    services: ServicesDep,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    store = stores.get_store(session, project_id, vector_store_id)
    row = stores.get_store_file(session, store, file_id)
    return JSONResponse(render_store_file(row), headers=_poll_headers(services))


@router.post("/vector_stores/{vector_store_id}/files/{file_id}")
@writes
def update_vector_store_file(
    vector_store_id: str,
    file_id: str,
    body: UpdateVectorStoreFileRequest,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    store = stores.get_store(session, project_id, vector_store_id)
    row = stores.get_store_file(session, store, file_id)
    row.attributes = body.attributes or {}
    session.flush()
    return JSONResponse(render_store_file(row))


@router.delete("/vector_stores/{vector_store_id}/files/{file_id}")
@writes
def delete_vector_store_file(
    vector_store_id: str, file_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    stores.remove_file(session, stores.get_store(session, project_id, vector_store_id), file_id)
    return JSONResponse(render_deleted(file_id, "vector_store.file"))


@router.get("/vector_stores/{vector_store_id}/files/{file_id}/content")
def vector_store_file_content(
    vector_store_id: str,
    file_id: str,
    services: ServicesDep,
    session: SessionDep,
    project_id: ProjectDep,
) -> JSONResponse:
    """The file's parsed text, whole, as one page (see the module docstring)."""
    store = stores.get_store(session, project_id, vector_store_id)
    body = stores.parsed_text(session, blob_store(services.settings), store, file_id)
    return JSONResponse(
        {
            "object": "vector_store.file_content.page",
            "data": [{"type": "text", "text": body}],
            "has_more": False,
            "next_page": None,
        }
    )


# File batches ------------------------------------------------------------------------------


def _respond_batch(session: Session, batch: Any, headers: dict[str, str]) -> JSONResponse:
    counts = stores.file_counts(session, [batch.vector_store_id], batch_id=batch.id)
    return JSONResponse(render_batch(batch, counts[batch.vector_store_id]), headers=headers)


@router.post("/vector_stores/{vector_store_id}/file_batches")
def create_file_batch(
    vector_store_id: str,
    body: CreateVectorStoreFileBatchRequest,
    services: ServicesDep,
    project_id: ProjectDep,
) -> JSONResponse:
    with services.db.session() as session:
        store = stores.usable_store(session, project_id, vector_store_id)
        entries = [
            (file_id, resolve_strategy(strategy), attributes)
            for file_id, strategy, attributes in body.entries()
        ]
        batch = stores.create_batch(session, store, entries)
        response = _respond_batch(session, batch, _poll_headers(services))
    wake_worker(services)
    return response


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}")
@reads
def retrieve_file_batch(
    vector_store_id: str,
    batch_id: str,
    services: ServicesDep,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    store = stores.get_store(session, project_id, vector_store_id)
    batch = stores.get_batch(session, store, batch_id)
    return _respond_batch(session, batch, _poll_headers(services))


@router.post("/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")
@writes
def cancel_file_batch(
    vector_store_id: str,
    batch_id: str,
    services: ServicesDep,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    store = stores.get_store(session, project_id, vector_store_id)
    batch = stores.get_batch(session, store, batch_id)
    stores.cancel_batch(session, batch)
    return _respond_batch(session, batch, _poll_headers(services))


@router.get("/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")
@reads
def list_file_batch_files(
    vector_store_id: str,
    batch_id: str,
    session: Session,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
    filter: FileStatus | None = None,
) -> JSONResponse:
    store = stores.get_store(session, project_id, vector_store_id)
    stores.get_batch(session, store, batch_id)
    return _files_page(session, store, page, filter, batch_id)
