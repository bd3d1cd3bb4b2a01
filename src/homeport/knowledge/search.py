"""Search over vector stores: vector, keyword or hybrid (reciprocal rank fusion).

Hybrid search runs both searches per query and fuses the rankings with RRF
(``sum(weight / (60 + rank))``); several queries fuse the same way. Its score is that sum divided
by the best score possible, so a chunk ranked first by every search of every query scores 1.0.
``ranker="none"`` (and mode ``vector``) scores by cosine similarity instead.

Attribute filters are evaluated on the stores' files first; the searches are then restricted to
the files that pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from homeport.errors import InvalidRequest
from homeport.knowledge.embeddings import Embedder
from homeport.knowledge.filters import matches
from homeport.knowledge.index import search_index
from homeport.store.models.base import now
from homeport.store.models.knowledge import Chunk, VectorStore, VectorStoreFile

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60
CANDIDATES = 50
"""How deep each search looks before fusion (per query and store)."""


@dataclass(frozen=True, slots=True)
class Hit:
    vector_store_id: str
    file_id: str
    filename: str
    attributes: dict[str, Any]
    score: float
    text: str
    chunk: int


def check_models(stores: Sequence[VectorStore], embedder: Embedder) -> None:
    for store in stores:
        if store.embedding_model != embedder.name:
            raise InvalidRequest(
                f"Vector store {store.id} was embedded with '{store.embedding_model}' and this "
                f"server embeds with '{embedder.name}': search it where that model is "
                "configured, or re-create it here.",
                param="vector_store_id",
            )


def search(
    session: Session,
    *,
    stores: Sequence[VectorStore],
    embedder: Embedder,
    queries: Sequence[str],
    max_results: int = 10,
    filters: dict[str, Any] | None = None,
    score_threshold: float = 0.0,
    mode: Mode = "hybrid",
    text_weight: float = 1.0,
    embedding_weight: float = 1.0,
) -> list[Hit]:
    check_models(stores, embedder)
    queries = [q for q in queries if q.strip()]
    if not stores or not queries:
        return []
    conn = session.connection()
    index = search_index(conn.dialect.name)
    index.ensure(conn, embedder.dimensions)
    files = {
        (row.vector_store_id, row.id): row
        for row in session.scalars(
            select(VectorStoreFile).where(
                VectorStoreFile.vector_store_id.in_([s.id for s in stores]),
                VectorStoreFile.status == "completed",
            )
        )
    }
    vectors = embedder.embed(list(queries)) if mode != "keyword" else None
    depth = max(CANDIDATES, max_results * 2)
    fused: dict[int, float] = {}
    cosine: dict[int, float] = {}
    lists = 0
    for store in stores:
        allowed: list[str] | None = None
        if filters is not None:
            allowed = [
                file_id
                for (store_id, file_id), row in files.items()
                if store_id == store.id and matches(filters, row.attributes or {})
            ]
            if not allowed:
                continue
        for position, query in enumerate(queries):
            rankings: list[tuple[list[tuple[int, float]], float]] = []
            if vectors is not None:
                found = index.vector_search(
                    conn,
                    dims=embedder.dimensions,
                    store_id=store.id,
                    query=vectors[position],
                    k=depth,
                    file_ids=allowed,
                )
                for seq, score in found:
                    cosine[seq] = max(score, cosine.get(seq, -1.0))
                rankings.append((found, embedding_weight))
            if mode != "vector":
                found = index.keyword_search(
                    conn, store_id=store.id, query=query, k=depth, file_ids=allowed
                )
                rankings.append((found, text_weight))
            for ranking, weight in rankings:
                for rank, (seq, _) in enumerate(ranking, start=1):
                    fused[seq] = fused.get(seq, 0.0) + weight / (RRF_K + rank)
        lists += len(queries)
    if mode == "vector":
        scored = {seq: max(0.0, min(1.0, score)) for seq, score in cosine.items()}
    else:
        weights = (embedding_weight if mode == "hybrid" else 0.0) + text_weight
        best = lists * weights / (RRF_K + 1) if lists else 1.0
        scored = {seq: min(1.0, score / best) for seq, score in fused.items()}
    ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
    ranked = [(seq, score) for seq, score in ranked if score >= score_threshold][:max_results]
    if not ranked:
        return []
    chunks = {
        c.seq: c
        for c in session.scalars(select(Chunk).where(Chunk.seq.in_([seq for seq, _ in ranked])))
    }
    hits = []
    for seq, score in ranked:
        chunk = chunks[seq]
        row = files.get((chunk.vector_store_id, chunk.file_id))
        if row is None:
            continue
        hits.append(
            Hit(
                chunk.vector_store_id,
                chunk.file_id,
                row.filename,
                dict(row.attributes or {}),
                round(score, 6),
                chunk.text,
                chunk.n,
            )
        )
    return hits


def touch(session: Session, stores: Sequence[VectorStore]) -> None:
    """Searching keeps a store active (its ``last_active_at`` anchors ``expires_after``)."""
    stamp = now()
    for store in stores:
        if store.last_active_at != stamp:
            store.last_active_at = stamp
