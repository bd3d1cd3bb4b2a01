"""``homeport import``: a bundle into the store, with the platform's IDs and timestamps.

Parts load parents first, each in batches; every batch is one transaction of inserts that skip
rows already present (``bulk``: parts mapped field by field go to the database as the bundle's
JSON lines, unparsed; files and vector stores as rows built here). So running an import twice
changes nothing, and an import killed at any point (even SIGKILL) and run again ends complete
with no duplicates: committed batches are skipped row by row, the rest is written. Items are
inserted in bundle order, which is each conversation's order, so the store's (created_at, seq)
order is the platform's. Then imported vector store files are parsed and embedded with the local
model.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from homeport.bundle import BundleError, BundleReader, Record
from homeport.config import Settings
from homeport.importer import knowledge, rows
from homeport.importer.bulk import insert_lines, insert_missing
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
    "memories",
)
NOT_STORED = ("tools",)
"""Kept in the bundle only: tools live in ``agents.tools``."""
BATCH = 5000
T = TypeVar("T")


@dataclass
class ImportReport:
    project: str
    records: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    not_stored: dict[str, int] = field(default_factory=dict)
    ingestion: dict[str, int] = field(default_factory=dict)
    parsed_text_only: list[str] = field(default_factory=list)
    """Files imported as the platform's parsed text (their bytes were not to be had)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "records": self.records,
            "inserted": self.inserted,
            "not_stored": self.not_stored,
            "ingestion": self.ingestion,
            "parsed_text_only": self.parsed_text_only,
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


def _batches(records: Iterator[T], size: int) -> Iterator[list[T]]:
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
        table = rows.TABLES[part][0]
        if part in rows.MAPPED:
            constants = {"project_id": self.project_id}
            return self._load(
                part,
                self.reader.lines(part),
                lambda conn, batch: _lines(conn, part, table, batch, constants),
                batch_size,
                progress,
            )
        return self._load(
            part,
            self.reader.records(part),
            lambda conn, batch: insert_missing(conn, table, self._rows(conn, part, batch)),
            batch_size,
            progress,
        )

    def _load(
        self,
        part: str,
        source: Iterator[T],
        insert: Callable[[Any, list[T]], int],
        batch_size: int,
        progress: Progress | None,
    ) -> int:
        """Each batch of ``source`` inserted in its own transaction."""
        total = self.reader.count(part)
        inserted = done = 0
        for batch in _batches(source, batch_size):
            with self.db.engine.begin() as conn:
                inserted += insert(conn, batch)
            done += len(batch)
            if progress is not None:
                progress(part, done, total)
        return inserted


def _lines(conn: Any, part: str, table: str, lines: list[bytes], constants: rows.Row) -> int:
    """``insert_lines``, with a line the database cannot read named as the bundle's fault."""
    try:
        return insert_lines(conn, part, table, lines, constants)
    except (DataError, IntegrityError, OperationalError) as exc:
        if isinstance(exc, OperationalError) and "JSON" not in str(exc.orig):
            raise
        raise BundleError(
            f"{part}.jsonl cannot be imported ({exc.orig}): check it with 'homeport bundle verify'"
        ) from exc


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
        for part in (p for p in ORDER if p in reader.parts()):
            report.records[part] = reader.count(part)
            report.inserted[part] = loader.part(part, batch_size, progress)
    report.parsed_text_only = [r["id"] for r in reader.records("files") if rows.parsed_text_only(r)]
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
