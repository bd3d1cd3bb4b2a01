"""``homeport import``: a bundle into the store, with the platform's IDs and timestamps.

Parts load parents first, each in batches; every batch is one transaction of Core
``executemany`` inserts that skip rows already present. So running an import twice changes
nothing, and an import killed at any point (even SIGKILL) and run again ends complete with no
duplicates: committed batches are skipped row by row, the rest is written. Items are inserted in
bundle order, which is each conversation's order, so the store's (created_at, seq) order is the
platform's. Then imported vector store files are parsed and embedded with the local model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
BATCH = 2000


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


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


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
    blobs = blob_store(settings)
    model = knowledge.embedding_model(settings)
    limit = settings.knowledge.max_file_bytes
    for part in ORDER:
        total = reader.count(part)
        report.records[part] = total
        inserted = done = 0
        table, to_row = rows.TABLES[part]
        for batch in _batches(reader.records(part), batch_size):
            if part == "files":
                batch_rows = [knowledge.file_row(r, reader, blobs, limit) for r in batch]
            elif part != "vector_store_files":
                batch_rows = [to_row(r) for r in batch]
            with db.engine.begin() as conn:
                if part == "vector_store_files":
                    batch_rows = knowledge.store_file_rows(conn, batch, project_id)
                else:
                    for row in batch_rows:
                        row["project_id"] = project_id
                    if part == "vector_stores":
                        for row in batch_rows:
                            row["embedding_model"] = model
                inserted += insert_missing(conn, table, batch_rows)
            done += len(batch)
            if progress is not None:
                progress(part, done, total)
        report.inserted[part] = inserted
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
