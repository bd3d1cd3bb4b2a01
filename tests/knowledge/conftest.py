"""Fixtures for knowledge tests: a migrated database (SQLite and PostgreSQL) and a helper that
uploads texts into a vector store and indexes them synchronously with the real local embedder.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from homeport.config import Settings
from homeport.knowledge import files, stores
from homeport.knowledge.blobs import blob_store
from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.ingest import Ingestor, claim
from homeport.services import Services
from homeport.store import keys
from homeport.store.bootstrap import prepare_database
from homeport.store.models.knowledge import VectorStore


@dataclass
class Knowledge:
    services: Services
    project_id: str

    @property
    def ingestor(self) -> Ingestor:
        settings = self.services.settings
        return Ingestor(self.services.db, blob_store(settings), get_embedder(settings.knowledge))

    def upload(self, name: str, data: bytes) -> str:
        blobs = blob_store(self.services.settings)
        staged = files.store_upload(blobs, io.BytesIO(data), limit=1 << 30)
        with self.services.db.session() as session:
            row = files.create_file(
                session,
                project_id=self.project_id,
                staged=staged,
                filename=name,
                purpose="assistants",
            )
            return row.id

    def store(self, documents: dict[str, bytes], **options: object) -> VectorStore:
        """A vector store holding ``documents`` (name -> bytes), fully indexed."""
        file_ids = [self.upload(name, data) for name, data in documents.items()]
        with self.services.db.session() as session:
            store = stores.create_store(
                session,
                project_id=self.project_id,
                embedding_model=get_embedder(self.services.settings.knowledge).name,
                file_ids=file_ids,
                **options,  # type: ignore[arg-type]
            )
        self.drain()
        return store

    def drain(self) -> None:
        ingestor = self.ingestor
        while jobs := claim(self.services.db, "test", lease_seconds=60, limit=8):
            for job in jobs:
                ingestor.process(job, "test")


@contextmanager
def knowledge_on(settings: Settings) -> Iterator[Knowledge]:
    services = Services.from_settings(settings)
    prepare_database(services)
    with services.db.session() as session:
        project_id = keys.ensure_project(session, settings.default_project).id
    try:
        yield Knowledge(services, project_id)
    finally:
        services.db.dispose()


@pytest.fixture
def knowledge(settings: Settings) -> Iterator[Knowledge]:
    with knowledge_on(settings) as knowledge:
        yield knowledge
