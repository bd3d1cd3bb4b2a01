"""``homeport reconcile``: proof that the store holds exactly what the bundle holds.

Per record type: counts, and an order-independent content checksum (the sum of the sha256 of
every row's compared fields, mod 2**256) of the bundle against the store's rows of the project;
then every bundle record is looked up by ID and each differing field named. Every
conversation's item order in the store must be the bundle's. Every vector store must answer
test queries drawn from its own documents with those documents. Memory stays flat: records are
streamed in batches; only one running hash per conversation is held.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, select, tuple_

from homeport.bundle import BundleReader, Record
from homeport.config import Settings
from homeport.importer import rows
from homeport.importer.knowledge import EMPTY_SHA256
from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.parsing import ParseError, parse
from homeport.knowledge.search import search
from homeport.store.db import Database
from homeport.store.models import Base, Project
from homeport.store.models.knowledge import VectorStore

BATCH = 1000
SHOWN = 20
"""At most this many IDs are listed per kind of difference (the counts are always exact)."""
MODULUS = 2**256
QUERY_WORDS = 12


@dataclass
class PartResult:
    part: str
    bundle_count: int = 0
    store_count: int = 0
    bundle_checksum: str = ""
    store_checksum: str = ""
    missing_count: int = 0
    missing: list[str] = field(default_factory=list)
    different_count: int = 0
    different: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.bundle_count == self.store_count
            and self.bundle_checksum == self.store_checksum
            and not self.missing_count
            and not self.different_count
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "bundle_count": self.bundle_count,
            "store_count": self.store_count,
            "bundle_checksum": self.bundle_checksum,
            "store_checksum": self.store_checksum,
            "missing_count": self.missing_count,
            "missing": self.missing,
            "different_count": self.different_count,
            "different": self.different,
        }


@dataclass
class StoreQueries:
    vector_store_id: str
    queries: int = 0
    answered: int = 0
    unanswered: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.answered == self.queries

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "queries": self.queries,
            "answered": self.answered,
            "unanswered": self.unanswered,
        }


@dataclass
class ReconcileReport:
    project: str
    parts: dict[str, PartResult] = field(default_factory=dict)
    conversations_checked: int = 0
    out_of_order_count: int = 0
    out_of_order: list[str] = field(default_factory=list)
    vector_stores: dict[str, StoreQueries] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            all(p.ok for p in self.parts.values())
            and not self.out_of_order_count
            and all(s.ok for s in self.vector_stores.values())
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "project": self.project,
            "parts": {name: p.as_dict() for name, p in self.parts.items()},
            "order": {
                "conversations_checked": self.conversations_checked,
                "out_of_order_count": self.out_of_order_count,
                "out_of_order": self.out_of_order,
            },
            "vector_stores": {k: v.as_dict() for k, v in self.vector_stores.items()},
        }


def _digest(row: dict[str, Any]) -> int:
    return int.from_bytes(hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS)).digest())


def _expected(part: str, record: Record) -> dict[str, Any]:
    """The row the importer writes for ``record``, without project and store-owned columns."""
    row = rows.TABLES[part][1](record)
    if part == "files":
        row["sha256"] = record.get("sha256") or record.get("text_sha256") or EMPTY_SHA256
    return row


def _key(part: str) -> tuple[str, ...]:
    return rows.KEYS.get(part, ("id",))


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


class _Reconciler:
    def __init__(self, reader: BundleReader, conn: Connection, project_id: str) -> None:
        self.reader = reader
        self.conn = conn
        self.project_id = project_id

    def _scope(self, table: Table) -> Any:
        return table.c.project_id == self.project_id

    def part(self, part: str) -> PartResult:
        table = Base.metadata.tables[rows.TABLES[part][0]]
        result = PartResult(part=part)
        key = _key(part)
        bundle_sum = 0
        fields: list[str] = []
        for batch in _batches(self.reader.records(part), BATCH):
            expected = [_expected(part, r) for r in batch]
            fields = fields or list(expected[0])
            result.bundle_count += len(batch)
            for row in expected:
                bundle_sum = (bundle_sum + _digest(row)) % MODULUS
            found = self._rows(table, fields, key, expected)
            for row in expected:
                ident = tuple(row[k] for k in key)
                stored = found.get(ident)
                label = "/".join(str(v) for v in ident)
                if stored is None:
                    result.missing_count += 1
                    if len(result.missing) < SHOWN:
                        result.missing.append(label)
                    continue
                changed = [name for name in fields if stored[name] != row[name]]
                if changed:
                    result.different_count += 1
                    if len(result.different) < SHOWN:
                        result.different.append({"id": label, "fields": changed})
        result.bundle_checksum = f"{bundle_sum:064x}"
        store_sum = 0
        if fields:
            columns = [table.c[name] for name in fields]
            stmt = select(*columns).where(self._scope(table))
            for values in self.conn.execution_options(yield_per=BATCH).execute(stmt):
                result.store_count += 1
                store_sum = (store_sum + _digest(dict(zip(fields, values, strict=True)))) % MODULUS
        else:
            result.store_count = len(
                self.conn.execute(select(table.c.seq).where(self._scope(table))).all()
            )
        result.store_checksum = f"{store_sum:064x}"
        return result

    def _rows(
        self, table: Table, fields: list[str], key: tuple[str, ...], expected: list[dict[str, Any]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        columns = [table.c[name] for name in fields]
        keys = [tuple(row[k] for k in key) for row in expected]
        if len(key) == 1:
            condition = table.c[key[0]].in_([k[0] for k in keys])
        else:
            condition = tuple_(*(table.c[k] for k in key)).in_(keys)
        stmt = select(*columns).where(and_(self._scope(table), condition))
        found = {}
        for values in self.conn.execute(stmt):
            row = dict(zip(fields, values, strict=True))
            found[tuple(row[k] for k in key)] = row
        return found

    def order(self, report: ReconcileReport) -> None:
        """Each conversation's items in the store, ordered as the API lists them, against the
        bundle's order."""
        bundle: dict[str, Any] = {}
        for record in self.reader.records("items"):
            conversation = record.get("conversation_id")
            if conversation:
                bundle.setdefault(conversation, hashlib.sha256()).update(
                    record["id"].encode() + b"\n"
                )
        items = Base.metadata.tables["items"]
        stmt = (
            select(items.c.conversation_id, items.c.id)
            .where(self._scope(items), items.c.conversation_id.is_not(None))
            .order_by(items.c.conversation_id, items.c.created_at, items.c.seq)
        )
        current: str | None = None
        digest = hashlib.sha256()
        store: dict[str, str] = {}
        for conversation, item_id in self.conn.execution_options(yield_per=BATCH).execute(stmt):
            if conversation != current:
                if current is not None:
                    store[current] = digest.hexdigest()
                current, digest = conversation, hashlib.sha256()
            digest.update(item_id.encode() + b"\n")
        if current is not None:
            store[current] = digest.hexdigest()
        report.conversations_checked = len(bundle)
        for conversation, running in bundle.items():
            if store.get(conversation) != running.hexdigest():
                report.out_of_order_count += 1
                if len(report.out_of_order) < SHOWN:
                    report.out_of_order.append(conversation)


def _queries(reader: BundleReader, per_store: int) -> dict[str, list[tuple[str, str]]]:
    """Up to ``per_store`` (file_id, query) pairs per vector store, each a run of words from the
    middle of one of its files."""
    files = {r["id"]: r for r in reader.records("files")}
    out: dict[str, list[tuple[str, str]]] = {}
    for member in reader.records("vector_store_files"):
        chosen = out.setdefault(member["vector_store_id"], [])
        record = files.get(member["id"])
        content = record and (record.get("sha256") or record.get("text_sha256"))
        if len(chosen) >= per_store or not record or not content:
            continue
        try:
            words = parse(reader.read_blob(content), rows.filename(record)).split()
        except ParseError:
            continue
        middle = max(0, len(words) // 2 - QUERY_WORDS // 2)
        chosen.append((member["id"], " ".join(words[middle : middle + QUERY_WORDS])))
    return out


def reconcile(
    reader: BundleReader,
    db: Database,
    settings: Settings,
    *,
    project: str | None = None,
    queries_per_store: int = 3,
) -> ReconcileReport:
    name = project or settings.default_project
    report = ReconcileReport(project=name)
    with db.engine.connect() as conn:
        project_id = conn.execute(select(Project.id).where(Project.name == name)).scalar()
        if project_id is None:
            project_id = ""
        checker = _Reconciler(reader, conn, project_id)
        for part in rows.TABLES:
            report.parts[part] = checker.part(part)
        checker.order(report)
    wanted = _queries(reader, queries_per_store)
    if wanted:
        embedder = get_embedder(settings.knowledge)
        with db.session() as session:
            for store_id, pairs in wanted.items():
                result = StoreQueries(vector_store_id=store_id, queries=len(pairs))
                store = session.scalar(select(VectorStore).where(VectorStore.id == store_id))
                for file_id, query in pairs:
                    hits = (
                        search(
                            session,
                            stores=[store],
                            embedder=embedder,
                            queries=[query],
                            max_results=5,
                        )
                        if store is not None
                        else []
                    )
                    if any(hit.file_id == file_id for hit in hits):
                        result.answered += 1
                    else:
                        result.unanswered.append({"file_id": file_id, "query": query})
                report.vector_stores[store_id] = result
    return report
