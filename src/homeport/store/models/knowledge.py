"""Files, vector stores and their chunks.

- ``StoredFile``: an uploaded file (``file-…``); its bytes live in the blob store by sha256.
- ``VectorStore``: a searchable collection; it records the embedding model that built it.
- ``VectorStoreFile``: a file in a store. Rows ``in_progress`` are also the ingestion queue
  (lease columns, as the runs table), so ingestion survives restarts.
- ``VectorStoreFileBatch``: files added together; its counts come from its files.
- ``Chunk``: a piece of a parsed file with its embedding. The search indexes over chunks
  (sqlite-vec and FTS5, or pgvector HNSW and a GIN index on ``text_tsv``) are managed by
  homeport.knowledge.index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import (
    Computed,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from homeport.knowledge import index as _index  # noqa: F401 - loads sqlite-vec on connect
from homeport.store.models.base import Base, Json, SeqMixin, now


class EmbeddingType(TypeDecorator[np.ndarray]):
    """A float32 vector: pgvector's ``vector`` on PostgreSQL, raw float32 bytes on SQLite."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from pgvector.sqlalchemy import VECTOR

            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32)
        return array if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, bytes | memoryview):
            return np.frombuffer(bytes(value), dtype=np.float32)
        return np.asarray(value, dtype=np.float32)


class TermsType(TypeDecorator[Any]):
    """PostgreSQL's ``tsvector``; plain text elsewhere (the column is then always NULL)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TSVECTOR())
        return dialect.type_descriptor(Text())


class chunk_terms(FunctionElement[Any]):
    """The generated expression of ``knowledge_chunks.text_tsv``: the chunk's English terms on
    PostgreSQL; NULL on SQLite, where the FTS5 table holds them."""

    inherit_cache = True
    name = "chunk_terms"


@compiles(chunk_terms, "postgresql")
def _chunk_terms_postgresql(element: chunk_terms, compiler: SQLCompiler, **kw: Any) -> str:
    return "to_tsvector('english'::regconfig, text)"


@compiles(chunk_terms)
def _chunk_terms_default(element: chunk_terms, compiler: SQLCompiler, **kw: Any) -> str:
    return "NULL"


class StoredFile(SeqMixin, Base):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_project_purpose", "project_id", "purpose"),)

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[int] = mapped_column(default=now)
    expires_at: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="processed")


class VectorStore(SeqMixin, Base):
    __tablename__ = "vector_stores"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[int] = mapped_column(default=now)
    last_active_at: Mapped[int] = mapped_column(default=now)
    expires_after: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    embedding_model: Mapped[str] = mapped_column(String(256))
    """The embedder every chunk of this store was embedded with (``local:all-MiniLM-L6-v2``)."""
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """Set for a store made from message attachments of a thread."""


class VectorStoreFile(SeqMixin, Base):
    __tablename__ = "vector_store_files"
    __table_args__ = (
        UniqueConstraint("vector_store_id", "id"),
        Index("ix_vector_store_files_queue", "status", "lease_expires_at"),
        Index("ix_vector_store_files_batch", "batch_id"),
    )

    id: Mapped[str] = mapped_column(String(64))
    """The file's id, as OpenAI's vector store files."""
    vector_store_id: Mapped[str] = mapped_column(ForeignKey("vector_stores.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(String(64), default=None)
    filename: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[int] = mapped_column(default=now)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    last_error: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    usage_bytes: Mapped[int] = mapped_column(default=0)
    chunking_strategy: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, default=None)
    attempts: Mapped[int] = mapped_column(default=0)


class VectorStoreFileBatch(SeqMixin, Base):
    __tablename__ = "vector_store_file_batches"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    vector_store_id: Mapped[str] = mapped_column(
        ForeignKey("vector_stores.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now)
    cancelled: Mapped[bool] = mapped_column(default=False)


class Chunk(SeqMixin, Base):
    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        Index("ix_knowledge_chunks_file", "vector_store_id", "file_id", "n"),
        Index("ix_knowledge_chunks_hash", "model", "content_hash"),
    )

    vector_store_id: Mapped[str] = mapped_column(ForeignKey("vector_stores.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(String(64))
    n: Mapped[int]
    """Position of the chunk in its file."""
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    dims: Mapped[int]
    embedding: Mapped[Any] = mapped_column(EmbeddingType())
    text_tsv: Mapped[Any] = mapped_column(
        TermsType(), Computed(chunk_terms(), persisted=True), nullable=True, deferred=True
    )
    """Stored when the row is written, so keyword ranking never re-parses ``text``."""
