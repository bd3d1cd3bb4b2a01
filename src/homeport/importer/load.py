"""``homeport import``: a bundle into the store, with the platform's IDs and timestamps.

Parts load parents first, each in batches; every batch is one transaction of Core
``executemany`` inserts that skip rows already present. So running an import twice changes
nothing, and an import killed at any point (even SIGKILL) and run again ends complete with no
duplicates: committed batches are skipped row by row, the rest is written. Items are inserted in
bundle order, which is each conversation's order, so the store's (created_at, seq) order is the
platform's. Then imported vector store files are parsed and embedded with the local model.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from homeport.bundle import BundleReader, Record
from homeport.config import Settings
from homeport.importer import knowledge, rows
from homeport.importer.bulk import insert_missing
from homeport.knowledge.blobs import blob_store
from homeport.store.db import Database
from homeport.store.keys import ensure_project

Progress = Callable[[str, int, int], None]
"""Called with (step, done, total): a part name, or ``ingest`` for embedding."""

ORDER = (
    "agents",
    "files",
    "vector_stores",
    "vector_store_files",
    "conversations",
    "items",
    "runs",
    "run_steps",
)
NOT_STORED = ("tools", "memories")
"""Kept in the bundle only: tools live in ``agents.tools``; memories have no table yet."""
BATCH = 5000


@dataclass
class ImportReport:
    project: str
    records: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    not_stored: dict[str, int] = field(default_factory=dict)
    ingestion: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "records": self.records,
            "inserted": self.inserted,
            "not_stored": self.not_stored,
            "ingestion": self.ingestion,
        }


@contextmanager
def _without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: the load creates no reference cycles (refcounting
    frees each batch), and full collections over millions of short-lived records would
    otherwise take most of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


class _Loader:
    """Loads the parts of one bundle into one project."""

    def __init__(
        self, reader: BundleReader, db: Database, settings: Settings, project_id: str
    ) -> None:
        self.reader = reader
        self.db = db
        self.project_id = project_id
        self.blobs = blob_store(settings)
        self.model = knowledge.embedding_model(settings)
        self.limit = settings.knowledge.max_file_bytes

    def _rows(self, conn: Any, part: str, batch: list[Record]) -> list[rows.Row]:
        if part == "vector_store_files":
            return knowledge.store_file_rows(conn, batch, self.project_id)
        if part == "files":
            out = [knowledge.file_row(r, self.reader, self.blobs, self.limit) for r in batch]
        else:
            out = [rows.TABLES[part][1](r) for r in batch]
        extra: dict[str, Any] = {"project_id": self.project_id}
        if part == "vector_stores":
            extra["embedding_model"] = self.model
        for row in out:
            row.update(extra)
        return out

    def part(self, part: str, batch_size: int, progress: Progress | None) -> int:
        """Load one part; returns how many rows were new."""
        total = self.reader.count(part)
        inserted = done = 0
        for batch in _batches(self.reader.records(part), batch_size):
            with self.db.engine.begin() as conn:
                inserted += insert_missing(
                    conn, rows.TABLES[part][0], self._rows(conn, part, batch)
                )
            done += len(batch)
            if progress is not None:
                progress(part, done, total)
        return inserted


def import_bundle(
    reader: BundleReader,
    db: Database,
    settings: Settings,
    *,
    project: str | None = None,
    embed: bool = True,
    batch_size: int = BATCH,
    progress: Progress | None = None,
) -> ImportReport:
    """Load ``reader`` into ``db`` (schema already at head) under ``project``."""
    name = project or settings.default_project
    with db.session() as session:
        project_id = ensure_project(session, name).id
    report = ImportReport(project=name)
    loader = _Loader(reader, db, settings, project_id)
    with _without_gc():
        for part in ORDER:
            report.records[part] = reader.count(part)
            report.inserted[part] = loader.part(part, batch_size, progress)
    for part in NOT_STORED:
        if reader.count(part):
            report.not_stored[part] = reader.count(part)
    store_ids = [r["id"] for r in reader.records("vector_stores")]
    if embed and store_ids:
        report.ingestion = knowledge.ingest(
            db,
            settings,
            store_ids,
            progress=(lambda d, t: progress("ingest", d, t)) if progress else None,
        )
    return report
