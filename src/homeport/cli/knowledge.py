"""``homeport knowledge``: index local files into a vector store and search it, without a
server (straight against the database, with the same code the API uses).

``ingest`` is resumable: files already indexed in the store (same name and content) are skipped,
files queued by an interrupted run are indexed, and an interrupted file is released at once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from homeport.cli.common import console, err_console, fail, print_json, settings

if TYPE_CHECKING:
    from homeport.knowledge.ingest import Ingestor
    from homeport.services import Services
    from homeport.store.models.knowledge import VectorStore

app = typer.Typer(help="Files and vector stores: ingest and search.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _services() -> Services:
    from homeport.services import Services
    from homeport.store.bootstrap import prepare_database

    services = Services.from_settings(settings())
    prepare_database(services)
    return services


def _project(services: Services, name: str | None) -> str:
    from homeport.store import keys

    with services.db.session() as session:
        return keys.ensure_project(session, name or services.settings.default_project).id


def _find_store(services: Services, project_id: str, ref: str) -> VectorStore | None:
    from sqlalchemy import select

    from homeport.store.models.knowledge import VectorStore

    with services.db.session() as session:
        return session.scalar(
            select(VectorStore)
            .where(VectorStore.project_id == project_id)
            .where((VectorStore.id == ref) | (VectorStore.name == ref))
            .order_by(VectorStore.seq.desc())
            .limit(1)
        )


def _walk(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise fail(f"{path} does not exist")
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _queue(services: Services, store: VectorStore, paths: list[Path]) -> dict[str, Path]:
    """Upload and queue the files the store does not hold yet; returns file_id -> path of
    every given file (known ones included)."""
    from sqlalchemy import select

    from homeport.knowledge import files, stores
    from homeport.knowledge.blobs import blob_store
    from homeport.knowledge.chunking import resolve_strategy
    from homeport.store.models.knowledge import StoredFile, VectorStoreFile

    with services.db.session() as session:
        held = {
            (name, sha): file_id
            for file_id, name, sha in session.execute(
                select(VectorStoreFile.id, StoredFile.filename, StoredFile.sha256)
                .join(StoredFile, StoredFile.id == VectorStoreFile.id)
                .where(VectorStoreFile.vector_store_id == store.id)
            )
        }
    blobs = blob_store(services.settings)
    strategy = resolve_strategy(None)
    limit = services.settings.knowledge.max_file_bytes
    mapping: dict[str, Path] = {}
    for path in paths:
        known = held.get((path.name, _sha256(path)))
        if known is not None:
            mapping[known] = path
            continue
        with path.open("rb") as handle:
            staged = files.store_upload(blobs, handle, limit=limit)
        with services.db.session() as session:
            row = files.create_file(
                session,
                project_id=store.project_id,
                staged=staged,
                filename=path.name,
                purpose="assistants",
            )
            stores.add_file(session, store, row.id, strategy=strategy)
            mapping[row.id] = path
    return mapping


def _drain(
    services: Services, store: VectorStore, worker: Ingestor, total: int, quiet: bool
) -> None:
    from homeport.knowledge.ingest import claim
    from homeport.knowledge.worker import worker_id

    owner = f"cli:{worker_id()}"
    lease = services.settings.knowledge.lease_seconds
    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
    )
    with progress:
        task = progress.add_task("indexing", total=total)
        while jobs := claim(services.db, owner, lease_seconds=lease, store_id=store.id):
            for job in jobs:
                try:
                    worker.process(job, owner)
                except BaseException:
                    worker.release(job, owner)
                    raise
                progress.advance(task)


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.")],
    store_ref: Annotated[
        str,
        typer.Option(
            "--store", help="Vector store name or id (created if no store has that name)."
        ),
    ],
    project: Annotated[str | None, typer.Option(help="Project (default: default_project).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Index files into a vector store (resumable: indexed files are skipped)."""
    from sqlalchemy import select

    from homeport.knowledge import stores
    from homeport.knowledge.embeddings import embedder_name
    from homeport.knowledge.worker import ingestor
    from homeport.store.models.knowledge import VectorStoreFile

    services = _services()
    try:
        project_id = _project(services, project)
        store = _find_store(services, project_id, store_ref)
        if store is None:
            with services.db.session() as session:
                store = stores.create_store(
                    session,
                    project_id=project_id,
                    name=store_ref,
                    embedding_model=embedder_name(services.settings.knowledge),
                )
        mapping = _queue(services, store, _walk(paths))
        with services.db.session() as session:
            pending = len(
                list(
                    session.scalars(
                        select(VectorStoreFile.id).where(
                            VectorStoreFile.vector_store_id == store.id,
                            VectorStoreFile.status == "in_progress",
                        )
                    )
                )
            )
        _drain(services, store, ingestor(services), pending, quiet=as_json)
        with services.db.session() as session:
            rows = {
                r.id: r
                for r in session.scalars(
                    select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id)
                )
            }
    finally:
        services.db.dispose()
    report: list[dict[str, Any]] = [
        {
            "path": str(path),
            "file_id": file_id,
            "status": rows[file_id].status,
            "error": (rows[file_id].last_error or {}).get("message"),
        }
        for file_id, path in mapping.items()
        if file_id in rows
    ]
    failed = [r for r in report if r["status"] == "failed"]
    if as_json:
        print_json({"vector_store_id": store.id, "name": store.name, "files": report})
    else:
        for row in failed:
            err_console.print(f"[yellow]failed:[/yellow] {row['path']}: {row['error']}")
        console.print(
            f"{store.id} ({store.name}): {len(report) - len(failed)} indexed, {len(failed)} failed"
        )


@app.command("search")
def search_cmd(
    store_ref: Annotated[str, typer.Argument(metavar="STORE", help="Vector store name or id.")],
    query: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option(min=1, max=50, help="Results to show.")] = 5,
    project: Annotated[str | None, typer.Option(help="Project (default: default_project).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Search a vector store (hybrid: vectors and keywords)."""
    from homeport.knowledge.embeddings import get_embedder
    from homeport.knowledge.search import search

    services = _services()
    try:
        store = _find_store(services, _project(services, project), store_ref)
        if store is None:
            raise fail(f"no vector store named or with id '{store_ref}'")
        with services.db.session() as session:
            hits = search(
                session,
                stores=[store],
                embedder=get_embedder(services.settings.knowledge),
                queries=[query],
                max_results=limit,
            )
    finally:
        services.db.dispose()
    if as_json:
        print_json(
            [
                {
                    "file_id": h.file_id,
                    "filename": h.filename,
                    "score": h.score,
                    "text": h.text,
                    "attributes": h.attributes,
                }
                for h in hits
            ]
        )
        return
    table = Table("score", "file", "text")
    for hit in hits:
        snippet = " ".join(hit.text.split())
        table.add_row(f"{hit.score:.3f}", hit.filename, snippet[:120])
    console.print(table)
