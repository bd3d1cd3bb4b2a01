"""Tool resources on create requests: the ``vector_stores`` helper makes real vector stores.

``file_search.vector_stores: [{"file_ids": [...], "chunking_strategy": ..., "metadata": ...}]``
on a create-assistant or create-thread request creates a vector store from those files (in the
request's transaction) and attaches its ID, as OpenAI does. The ingest worker is woken after
the response, when the store is committed.
"""

from __future__ import annotations

from fastapi import BackgroundTasks
from sqlalchemy.orm import Session

from homeport.api.wire.common import NewVectorStore, VectorStoreMaker
from homeport.knowledge import stores
from homeport.knowledge.embeddings import embedder_name
from homeport.knowledge.worker import wake_worker
from homeport.services import Services


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
