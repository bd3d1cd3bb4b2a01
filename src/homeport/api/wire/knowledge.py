"""Wire contract of the files and vector stores APIs: request models and renderers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from homeport.api.wire.common import ChunkingStrategy, Metadata, WireModel
from homeport.knowledge import stores
from homeport.knowledge.filters import check_filter
from homeport.knowledge.search import Hit
from homeport.store.models.knowledge import (
    StoredFile,
    VectorStore,
    VectorStoreFile,
    VectorStoreFileBatch,
)

Attributes = dict[str, Any] | None


def _attributes(value: Attributes) -> Attributes:
    return stores.check_attributes(value) if value is not None else None


def _strategy(value: ChunkingStrategy | None) -> dict[str, Any] | None:
    return value.model_dump() if value is not None else None


class ExpiresAfter(WireModel):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Field(ge=1, le=365)]


class CreateVectorStoreRequest(WireModel):
    file_ids: Annotated[list[str], Field(max_length=500)] | None = None
    name: str | None = None
    description: str | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None

    def strategy(self) -> dict[str, Any] | None:
        return _strategy(self.chunking_strategy)


class UpdateVectorStoreRequest(WireModel):
    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class CreateVectorStoreFileRequest(WireModel):
    file_id: str
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes = None

    _check = field_validator("attributes")(_attributes)

    def strategy(self) -> dict[str, Any] | None:
        return _strategy(self.chunking_strategy)


class CreateVectorStoreFileBatchRequest(WireModel):
    file_ids: Annotated[list[str], Field(min_length=1, max_length=2000)] | None = None
    files: Annotated[list[CreateVectorStoreFileRequest], Field(min_length=1, max_length=2000)] | (
        None
    ) = None
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes = None

    _check = field_validator("attributes")(_attributes)

    @model_validator(mode="after")
    def _one_list(self) -> CreateVectorStoreFileBatchRequest:
        if (self.file_ids is None) == (self.files is None):
            raise PydanticCustomError("file_list", "give exactly one of 'file_ids' or 'files'.")
        return self

    def entries(self) -> list[tuple[str, dict[str, Any] | None, dict[str, Any]]]:
        """``(file_id, requested strategy, attributes)`` for every file of the batch."""
        if self.files is not None:
            return [(f.file_id, f.strategy(), f.attributes or {}) for f in self.files]
        return [
            (file_id, _strategy(self.chunking_strategy), self.attributes or {})
            for file_id in self.file_ids or ()
        ]


class UpdateVectorStoreFileRequest(WireModel):
    attributes: Attributes

    _check = field_validator("attributes")(_attributes)


class HybridSearch(WireModel):
    embedding_weight: Annotated[float, Field(ge=0)] = 1.0
    text_weight: Annotated[float, Field(ge=0)] = 1.0


class RankingOptions(WireModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: Annotated[float, Field(ge=0, le=1)] = 0.0
    hybrid_search: HybridSearch | None = None


class SearchRequest(WireModel):
    query: str | Annotated[list[str], Field(min_length=1)]
    rewrite_query: bool = False
    max_num_results: Annotated[int, Field(ge=1, le=50)] = 10
    filters: dict[str, Any] | None = None
    ranking_options: RankingOptions | None = None

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_filter(value)
        return value

    def queries(self) -> list[str]:
        return [self.query] if isinstance(self.query, str) else list(self.query)


# Renderers ---------------------------------------------------------------------------------


def render_file(row: StoredFile) -> dict[str, Any]:
    """The spec types ``expires_at`` as an integer: a file that never expires omits it."""
    body: dict[str, Any] = {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
    }
    if row.expires_at is not None:
        body["expires_at"] = row.expires_at
    return body


def render_store(store: VectorStore, counts: stores.FileCounts, usage: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": store.id,
        "object": "vector_store",
        "created_at": store.created_at,
        "name": store.name,
        "description": store.description,
        "usage_bytes": usage,
        "file_counts": counts.as_dict(),
        "status": stores.store_status(store, counts),
        "expires_at": stores.expires_at(store),
        "last_active_at": store.last_active_at,
        "metadata": store.metadata_ or {},
    }
    if store.expires_after:  # the spec has no null form for it
        body["expires_after"] = store.expires_after
    return body


def render_store_file(row: VectorStoreFile) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "vector_store.file",
        "usage_bytes": row.usage_bytes,
        "created_at": row.created_at,
        "vector_store_id": row.vector_store_id,
        "status": row.status,
        "last_error": row.last_error,
        "chunking_strategy": row.chunking_strategy,
        "attributes": row.attributes or {},
    }


def render_batch(batch: VectorStoreFileBatch, counts: stores.FileCounts) -> dict[str, Any]:
    return {
        "id": batch.id,
        "object": "vector_store.files_batch",
        "created_at": batch.created_at,
        "vector_store_id": batch.vector_store_id,
        "status": stores.batch_status(batch, counts),
        "file_counts": counts.as_dict(),
    }


def render_search_page(queries: list[str], hits: list[Hit]) -> dict[str, Any]:
    return {
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": [
            {
                "file_id": hit.file_id,
                "filename": hit.filename,
                "score": hit.score,
                "attributes": hit.attributes,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in hits
        ],
        "has_more": False,
        "next_page": None,
    }
