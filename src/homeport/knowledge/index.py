"""The search indexes over ``knowledge_chunks``, one class per database, same behaviour.

- SQLite: sqlite-vec ``vec0`` tables (one per vector dimension, partitioned by vector store,
  cosine distance) and an FTS5 table (porter stemming, BM25), both keyed by the chunk's ``seq``.
- PostgreSQL: pgvector HNSW indexes (one partial expression index per dimension, cosine) and a
  GIN index on ``text_tsv``, the chunk's ``to_tsvector('english', text)`` stored when the row is
  written (a generated column), so ranking reads the stored terms instead of parsing each text.

The index structures are created on first use (``ensure``), so the schema migration needs no
extension loaded. Both searches return ``(chunk seq, score)`` best first: cosine similarity for
vectors, the engine's text rank for keywords.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from homeport.store.db import on_sqlite_connect

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = (
    "a an and are as at be by can did do does for from has have how i in is it its of on or "
    "our that the this to was we were what when where which who why will with you your"
)
STOPWORDS = frozenset(_STOPWORDS.split())


def query_terms(query: str) -> list[str]:
    """Lower-cased words of a query without stop words, each once, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def load_sqlite_vec(dbapi_connection: Any) -> None:
    """Load sqlite-vec into a new SQLite connection (skipped when the knowledge extra is not
    installed; vector search then fails with the install command)."""
    try:
        import sqlite_vec
    except ImportError:
        return
    dbapi_connection.enable_load_extension(True)
    try:
        sqlite_vec.load(dbapi_connection)
    finally:
        dbapi_connection.enable_load_extension(False)


on_sqlite_connect(load_sqlite_vec)


class SearchIndex(ABC):
    def __init__(self) -> None:
        self._ready: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def ensure(self, conn: Connection, dims: int) -> None:
        """Create the index structures for ``dims``-dimensional vectors if missing."""
        key = (str(conn.engine.url), dims)
        if key in self._ready:
            return
        with self._lock:
            if key not in self._ready:
                self._create(conn, dims)
                self._ready.add(key)

    @abstractmethod
    def _create(self, conn: Connection, dims: int) -> None: ...

    @abstractmethod
    def add(self, conn: Connection, dims: int, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Index chunks given as ``(seq, vector_store_id, file_id, text)``; their embeddings
        are already in ``knowledge_chunks``."""

    @abstractmethod
    def remove(self, conn: Connection, dims: int, seqs: Sequence[int]) -> None: ...

    @abstractmethod
    def vector_search(
        self,
        conn: Connection,
        *,
        dims: int,
        store_id: str,
        query: np.ndarray,
        k: int,
        file_ids: Sequence[str] | None,
    ) -> list[tuple[int, float]]: ...

    @abstractmethod
    def keyword_search(
        self,
        conn: Connection,
        *,
        store_id: str,
        query: str,
        k: int,
        file_ids: Sequence[str] | None,
    ) -> list[tuple[int, float]]: ...


def _placeholders(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


class SqliteIndex(SearchIndex):
    def _create(self, conn: Connection, dims: int) -> None:
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_vec_{dims} USING vec0("
            "chunk_id integer primary key, vector_store_id text partition key, file_id text, "
            f"embedding float[{dims}] distance_metric=cosine)"
        )
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts USING fts5(text, content='', "
            "contentless_delete=1, tokenize='porter unicode61')"
        )

    def add(self, conn: Connection, dims: int, rows: Sequence[tuple[int, str, str, str]]) -> None:
        if not rows:
            return
        seqs = [r[0] for r in rows]
        marks, params = _placeholders("s", seqs)
        vectors: dict[int, bytes] = dict(
            conn.execute(
                text(f"SELECT seq, embedding FROM knowledge_chunks WHERE seq IN ({marks})"), params
            ).all()
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.executemany(
            f"INSERT INTO knowledge_vec_{dims}(chunk_id, vector_store_id, file_id, embedding) "
            "VALUES (?, ?, ?, ?)",
            [(seq, store, file_id, vectors[seq]) for seq, store, file_id, _ in rows],
        )
        raw.executemany(
            "INSERT INTO knowledge_fts(rowid, text) VALUES (?, ?)",
            [(seq, body) for seq, _, _, body in rows],
        )

    def remove(self, conn: Connection, dims: int, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.executemany(
            f"DELETE FROM knowledge_vec_{dims} WHERE chunk_id = ?", [(s,) for s in seqs]
        )
        raw.executemany("DELETE FROM knowledge_fts WHERE rowid = ?", [(s,) for s in seqs])

    def vector_search(
        self,
        conn: Connection,
        *,
        dims: int,
        store_id: str,
        query: np.ndarray,
        k: int,
        file_ids: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        sql = (
            f"SELECT chunk_id, distance FROM knowledge_vec_{dims} WHERE embedding MATCH :q "
            "AND k = :k AND vector_store_id = :store"
        )
        params: dict[str, Any] = {
            "q": np.asarray(query, np.float32).tobytes(),
            "k": min(k, 4096),
            "store": store_id,
        }
        if file_ids is not None:
            marks, extra = _placeholders("f", file_ids)
            sql += f" AND file_id IN ({marks})"
            params.update(extra)
        rows = conn.execute(text(sql + " ORDER BY distance"), params).all()
        return [(int(seq), 1.0 - float(distance)) for seq, distance in rows]

    def keyword_search(
        self,
        conn: Connection,
        *,
        store_id: str,
        query: str,
        k: int,
        file_ids: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = (
            "SELECT f.rowid, bm25(knowledge_fts) AS rank FROM knowledge_fts f "
            "JOIN knowledge_chunks c ON c.seq = f.rowid "
            "WHERE knowledge_fts MATCH :match AND c.vector_store_id = :store"
        )
        params: dict[str, Any] = {"match": match, "store": store_id, "k": k}
        if file_ids is not None:
            marks, extra = _placeholders("f", file_ids)
            sql += f" AND c.file_id IN ({marks})"
            params.update(extra)
        rows = conn.execute(text(sql + " ORDER BY rank LIMIT :k"), params).all()
        return [(int(seq), -float(rank)) for seq, rank in rows]


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, np.float32)) + "]"


class PostgresIndex(SearchIndex):
    """HNSW built with ``ef_construction = 200`` and searched with ``ef_search = 400``: on
    100,000 clustered chunks pgvector's defaults (64, 40) found 0.73 of the true top 10 even at
    ``ef_search = 200``; these settings find 0.98 for about 5 ms more per query and a build four
    times as long (benchmarks.md). Indexes an older homeport built with other settings are
    rebuilt by migration 0026."""

    ef_search = 400

    def _create(self, conn: Connection, dims: int) -> None:
        # In its own transaction: an index build must not hold the caller's locks, and a
        # concurrent identical CREATE (another process) is harmless to lose.
        with conn.engine.connect() as own:
            own = own.execution_options(isolation_level="AUTOCOMMIT")
            for statement in (
                f"CREATE INDEX IF NOT EXISTS ix_knowledge_chunks_hnsw_{dims} ON knowledge_chunks "
                f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
                f"WITH (m = 16, ef_construction = 200) WHERE dims = {dims}",
                "CREATE INDEX IF NOT EXISTS ix_knowledge_chunks_text_tsv ON knowledge_chunks "
                "USING gin (text_tsv)",
            ):
                try:
                    own.exec_driver_sql(statement)
                except Exception as exc:
                    if "already exists" not in str(exc):
                        raise

    def add(self, conn: Connection, dims: int, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Nothing to do: the indexes are on ``knowledge_chunks`` itself."""

    def remove(self, conn: Connection, dims: int, seqs: Sequence[int]) -> None:
        """Nothing to do: deleting the chunk rows removes them from the indexes."""

    def vector_search(
        self,
        conn: Connection,
        *,
        dims: int,
        store_id: str,
        query: np.ndarray,
        k: int,
        file_ids: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {max(self.ef_search, k)}")
        conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = strict_order")
        distance = f"(embedding::vector({dims}) <=> CAST(:q AS vector({dims})))"
        sql = (
            f"SELECT seq, {distance} AS distance FROM knowledge_chunks "
            f"WHERE dims = {dims} AND vector_store_id = :store"
        )
        params: dict[str, Any] = {"q": _vector_literal(query), "store": store_id, "k": k}
        if file_ids is not None:
            sql += " AND file_id = ANY(:files)"
            params["files"] = list(file_ids)
        rows = conn.execute(text(sql + f" ORDER BY {distance} LIMIT :k"), params).all()
        return [(int(seq), 1.0 - float(d)) for seq, d in rows]

    def keyword_search(
        self,
        conn: Connection,
        *,
        store_id: str,
        query: str,
        k: int,
        file_ids: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        sql = (
            "SELECT seq, ts_rank(text_tsv, q) AS rank "
            "FROM knowledge_chunks, to_tsquery('english', :match) q "
            "WHERE text_tsv @@ q AND vector_store_id = :store"
        )
        params: dict[str, Any] = {"match": " | ".join(terms), "store": store_id, "k": k}
        if file_ids is not None:
            sql += " AND file_id = ANY(:files)"
            params["files"] = list(file_ids)
        rows = conn.execute(text(sql + " ORDER BY rank DESC, seq LIMIT :k"), params).all()
        return [(int(seq), float(rank)) for seq, rank in rows]


_indexes: dict[str, SearchIndex] = {}


def search_index(dialect: str) -> SearchIndex:
    """The index for a database dialect (one per process, so ``ensure`` runs once)."""
    if dialect not in _indexes:
        _indexes[dialect] = PostgresIndex() if dialect == "postgresql" else SqliteIndex()
    return _indexes[dialect]
