"""Ingestion jobs on SQLite and PostgreSQL: leases and recovery, cancellation, the embedding
cache, an OpenAI-compatible embeddings server, and one index never mixing models."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from homeport.config import Settings
from homeport.errors import InvalidRequest
from homeport.knowledge import stores
from homeport.knowledge.blobs import blob_store
from homeport.knowledge.chunking import resolve_strategy
from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.ingest import Ingestor, claim
from homeport.knowledge.search import search
from homeport.knowledge.settings import KnowledgeSettings
from homeport.store.models.knowledge import Chunk, VectorStoreFile
from homeport.testing.scripted_model import ScriptedModelServer
from tests.knowledge.conftest import Knowledge

TEXT = b"Lighthouses warn ships away from rocks with a beam of light that sweeps the sea."


def _status(knowledge: Knowledge, store_id: str) -> dict[str, str]:
    with knowledge.services.db.session() as session:
        rows = session.scalars(
            select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store_id)
        )
        return {row.filename: row.status for row in rows}


def _queued_store(knowledge: Knowledge, **documents: bytes) -> str:
    ids = [knowledge.upload(name.replace("_", "."), data) for name, data in documents.items()]
    with knowledge.services.db.session() as session:
        store = stores.create_store(
            session,
            project_id=knowledge.project_id,
            file_ids=ids,
            embedding_model=get_embedder(knowledge.services.settings.knowledge).name,
        )
        return store.id


def test_a_dead_workers_lease_expires_and_the_job_is_taken_over(knowledge: Knowledge) -> None:
    store_id = _queued_store(knowledge, light_md=TEXT)
    db = knowledge.services.db
    assert claim(db, "dead-worker", lease_seconds=30) == [(store_id, _file_id(knowledge, store_id))]
    assert claim(db, "other", lease_seconds=30) == [], "a live lease is respected"
    with db.session() as session:  # the dead worker's lease runs out
        session.execute(update(VectorStoreFile).values(lease_expires_at=time.time() - 1))
    jobs = claim(db, "other", lease_seconds=30)
    assert len(jobs) == 1
    assert knowledge.ingestor.process(jobs[0], "dead-worker").status == "dropped"
    assert knowledge.ingestor.process(jobs[0], "other").status == "completed"
    assert _status(knowledge, store_id) == {"light.md": "completed"}


def _file_id(knowledge: Knowledge, store_id: str) -> str:
    with knowledge.services.db.session() as session:
        return session.scalars(
            select(VectorStoreFile.id).where(VectorStoreFile.vector_store_id == store_id)
        ).one()


def test_cancelled_work_is_dropped(knowledge: Knowledge) -> None:
    store_id = _queued_store(knowledge)
    file_id = knowledge.upload("light.md", TEXT)
    with knowledge.services.db.session() as session:
        store = stores.get_store(session, knowledge.project_id, store_id)
        batch = stores.create_batch(session, store, [(file_id, resolve_strategy(None), {})])
    (job,) = claim(knowledge.services.db, "w", lease_seconds=30)
    with knowledge.services.db.session() as session:
        stores.cancel_batch(session, stores.get_batch(session, store, batch.id))
    assert knowledge.ingestor.process(job, "w").status == "dropped"
    assert _status(knowledge, store_id) == {"light.md": "cancelled"}
    with knowledge.services.db.session() as session:
        assert session.scalars(select(Chunk)).all() == []


def test_identical_chunks_are_embedded_once(knowledge: Knowledge) -> None:
    first = _queued_store(knowledge, a_md=TEXT)
    knowledge.drain()
    second = _queued_store(knowledge, b_md=TEXT)
    (job,) = claim(knowledge.services.db, "w", lease_seconds=30)
    outcome = knowledge.ingestor.process(job, "w")
    assert (outcome.status, outcome.chunks, outcome.reused) == ("completed", 1, 1)
    with knowledge.services.db.session() as session:
        vectors = session.scalars(select(Chunk.embedding)).all()
    assert len(vectors) == 2 and (vectors[0] == vectors[1]).all()
    assert first != second


def test_openai_compatible_embeddings_and_no_mixing(
    knowledge: Knowledge, scripted_model: ScriptedModelServer
) -> None:
    remote = KnowledgeSettings(
        embedder="openai",
        embedding_model="scripted-embed",
        embeddings_base_url=scripted_model.base_url,
        embed_batch_size=2,
    )
    embedder = get_embedder(remote)
    assert embedder.name == "openai:scripted-embed" and embedder.dimensions > 0
    local_store = _queued_store(knowledge, local_md=TEXT)
    knowledge.drain()
    services = knowledge.services
    remote_files = [knowledge.upload(f"r{i}.md", TEXT + str(i).encode()) for i in range(3)]
    with services.db.session() as session:
        remote_store = stores.create_store(
            session,
            project_id=knowledge.project_id,
            embedding_model=embedder.name,
            file_ids=remote_files,
        )
    remote_ingestor = Ingestor(services.db, blob_store(services.settings), embedder)
    while jobs := claim(services.db, "r", lease_seconds=30, store_id=remote_store.id):
        for job in jobs:
            remote_ingestor.process(job, "r")
    assert set(_status(knowledge, remote_store.id).values()) == {"completed"}
    with services.db.session() as session:
        hits = search(
            session,
            stores=[remote_store],
            embedder=embedder,
            queries=["lighthouses ships rocks"],
            max_results=3,
        )
        assert len(hits) == 3
        store = stores.get_store(session, knowledge.project_id, local_store)
        with pytest.raises(InvalidRequest) as mixed:
            search(session, stores=[store], embedder=embedder, queries=["x"])
    assert "local:all-MiniLM-L6-v2" in mixed.value.message
    # A file queued into the local store is refused by the remote embedder, not mixed in.
    late = knowledge.upload("late.md", b"late text")
    with services.db.session() as session:
        store = stores.get_store(session, knowledge.project_id, local_store)
        stores.add_file(session, store, late, strategy=resolve_strategy(None))
    (job,) = claim(services.db, "r", lease_seconds=30, store_id=local_store)
    assert remote_ingestor.process(job, "r").status == "failed"
    with services.db.session() as session:
        row = session.scalars(
            select(VectorStoreFile).where(
                VectorStoreFile.vector_store_id == local_store,
                VectorStoreFile.filename == "late.md",
            )
        ).one()
    assert row.last_error["code"] == "server_error" and "never mixes" in row.last_error["message"]


def test_settings_reach_the_embedder(settings: Settings) -> None:
    assert get_embedder(settings.knowledge) is get_embedder(settings.knowledge)
