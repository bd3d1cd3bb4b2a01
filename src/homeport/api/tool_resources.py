"""Files and vector stores that create requests name: checked, or made by the helper.

``file_search.vector_stores: [{"file_ids": [...], "chunking_strategy": ..., "metadata": ...}]``
on a create-assistant, create-thread or create-thread-and-run request creates a vector store
from those files (in the request's transaction) and attaches its ID, as OpenAI does. The ingest
worker is woken after the response, when the store is committed.

Every file a request names (message ``attachments``, ``code_interpreter.file_ids``) must exist
in the project: an unknown one is a 404 in the files API's words (``No such File object: …``),
naming the parameter, as OpenAI answers. So must every vector store it names
(``file_search.vector_store_ids``): ``No vector store found with id '…'.``
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import BackgroundTasks
from sqlalchemy.orm import Session

from homeport.api.wire.common import (
    NewVectorStore,
    ToolResources,
    ToolResourcesCreate,
    VectorStoreMaker,
    stored_tool_resources,
)
from homeport.knowledge import stores
from homeport.knowledge.embeddings import embedder_name
from homeport.knowledge.files import get_file
from homeport.knowledge.stores import get_store
from homeport.knowledge.worker import wake_worker
from homeport.services import Services

FileRefs = Iterable[tuple[str, str]]
"""``(param, file_id)`` pairs: the files a request names and where it names them."""


def vector_store_maker(
    session: Session, *, services: Services, project_id: str, background: BackgroundTasks
) -> VectorStoreMaker:
    """A ``make_vector_store`` for ``stored_tool_resources`` bound to this request."""

    def make(helper: NewVectorStore) -> str:
        strategy = helper.chunking_strategy
        store = stores.create_store(
            session,
            project_id=project_id,
            embedding_model=embedder_name(services.settings.knowledge),
            metadata=helper.metadata,
            file_ids=helper.file_ids,
            chunking_strategy=strategy.model_dump() if strategy is not None else None,
        )
        background.add_task(wake_worker, services)
        return store.id

    return make


def checked_resources(
    session: Session,
    project_id: str,
    resources: ToolResources | ToolResourcesCreate | None,
    *,
    make_vector_store: VectorStoreMaker | None = None,
    param: str = "",
) -> dict[str, Any]:
    """A request's tool resources in their stored form (``stored_tool_resources``), their
    ``code_interpreter.file_ids`` and ``file_search.vector_store_ids`` checked; ``param``
    prefixes the reported parameter (``"thread."``)."""
    search = resources.file_search if resources is not None else None
    named = len(search.vector_store_ids or ()) if search is not None else 0
    stored = stored_tool_resources(resources, make_vector_store=make_vector_store)
    code = stored.get("code_interpreter") or {}
    prefix = f"{param}tool_resources.code_interpreter.file_ids"
    check_files(
        session,
        project_id,
        ((f"{prefix}[{i}]", file_id) for i, file_id in enumerate(code.get("file_ids", ()))),
    )
    store_ids = (stored.get("file_search") or {}).get("vector_store_ids", [])
    prefix = f"{param}tool_resources.file_search.vector_store_ids"
    for index, store_id in enumerate(store_ids[:named]):  # the rest were made just now
        get_store(session, project_id, store_id, param=f"{prefix}[{index}]")
    return stored


def check_files(session: Session, project_id: str, refs: FileRefs) -> None:
    """404 for the first file that is not in the project (or has expired)."""
    for param, file_id in refs:
        get_file(session, project_id, file_id, param=param)
