"""The ``file_search`` server tool for runs (Assistants) and responses (Responses).

The model is offered a ``file_search`` function taking ``queries``. A call searches the vector
stores of the tool entry (Responses: ``vector_store_ids``) or of the run's tool resources
(Assistants: assistant and thread ``tool_resources.file_search.vector_store_ids``) with hybrid
search, and gives the model the chunks found, each headed by a citation marker such as
``【12:0†guide.md】``. The answer's ``file_citation`` annotations are placed where the model
wrote those markers (``homeport.engine.tools.place_citations``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from homeport.engine.tools import ServerTool, ToolContext, ToolResult, register_tool
from homeport.errors import InvalidRequest
from homeport.knowledge import worker
from homeport.knowledge.attachments import thread_store
from homeport.knowledge.embeddings import embedder_name, get_embedder
from homeport.knowledge.filters import check_filter
from homeport.knowledge.ingest import claim
from homeport.knowledge.search import Hit, search, touch
from homeport.knowledge.stores import is_expired
from homeport.services import Services
from homeport.store.models.knowledge import VectorStore

DEFAULT_MAX_RESULTS = 20
RANKER = "default_2024_08_21"
DESCRIPTION = (
    "Search the files the user gave you and answer from them. Pass one or more short search "
    "queries. Each result starts with a marker like 【12:0†file.md】: cite a result by copying "
    "its marker right after the sentence that uses it."
)


def marker(hit: Hit, position: int) -> str:
    return f"【{hit.chunk}:{position}†{hit.filename}】"


def _queries(arguments: dict[str, Any]) -> list[str]:
    queries = arguments.get("queries")
    if isinstance(queries, str):
        queries = [queries]
    if not isinstance(queries, list):
        query = arguments.get("query")
        queries = [query] if isinstance(query, str) else []
    found = [q for q in queries if isinstance(q, str) and q.strip()]
    if not found:
        raise InvalidRequest("file_search needs at least one non-empty query in 'queries'.")
    return found


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """The tool entry's options: nested under ``file_search`` (Assistants) or flat
    (Responses)."""
    nested = config.get("file_search")
    return dict(nested) if isinstance(nested, dict) else dict(config)


def _store_ids(ctx: ToolContext) -> list[str]:
    ids = ctx.config.get("vector_store_ids")
    if not ids:
        ids = (ctx.tool_resources.get("file_search") or {}).get("vector_store_ids") or []
    return [str(i) for i in ids]


def _with_thread_store(services: Services, ctx: ToolContext, store_ids: list[str]) -> list[str]:
    """Add the thread's attachment store (made or extended now, its new files indexed before
    the search runs)."""
    if ctx.conversation_id is None:
        return store_ids
    with services.db.session() as session:
        thread_store_id = thread_store(
            session,
            project_id=ctx.project_id,
            conversation_id=ctx.conversation_id,
            embedding_model=embedder_name(services.settings.knowledge),
        )
    if thread_store_id is None:
        return store_ids
    ingestor = worker.ingestor(services)
    owner = worker.worker_id()
    lease = services.settings.knowledge.lease_seconds
    while jobs := claim(services.db, owner, lease_seconds=lease, limit=8, store_id=thread_store_id):
        for job in jobs:
            ingestor.process(job, owner)
    return list(dict.fromkeys([*store_ids, thread_store_id]))


def run_search(
    services: Services, ctx: ToolContext, queries: list[str], options: dict[str, Any]
) -> tuple[list[Hit], dict[str, Any]]:
    store_ids = _with_thread_store(services, ctx, _store_ids(ctx))
    project_id = ctx.project_id
    ranking = options.get("ranking_options") or {}
    threshold = float(ranking.get("score_threshold") or 0.0)
    filters = options.get("filters")
    if filters is not None:
        check_filter(filters)
    limit = int(options.get("max_num_results") or DEFAULT_MAX_RESULTS)
    with services.db.session() as session:
        stores = list(
            session.scalars(
                select(VectorStore).where(
                    VectorStore.project_id == project_id, VectorStore.id.in_(store_ids)
                )
            )
        )
        live = [s for s in stores if not is_expired(s)]
        hits = search(
            session,
            stores=live,
            embedder=get_embedder(services.settings.knowledge),
            queries=queries,
            max_results=max(1, min(limit, 50)),
            filters=filters,
            score_threshold=threshold,
            mode="vector" if ranking.get("ranker") == "none" else "hybrid",
        )
        touch(session, live)
    return hits, {"ranker": RANKER, "score_threshold": threshold}


class FileSearchTool(ServerTool):
    type_name = "file_search"

    def as_function(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.type_name,
                "description": DESCRIPTION,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "queries": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Search queries, each a few words.",
                        }
                    },
                    "required": ["queries"],
                },
            },
        }

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        queries = _queries(arguments)
        hits, ranking = await asyncio.to_thread(
            run_search, ctx.services, ctx, queries, _settings(ctx.config)
        )
        results = [
            {
                "file_id": hit.file_id,
                "file_name": hit.filename,
                "score": hit.score,
                "attributes": hit.attributes,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in hits
        ]
        annotations = [
            {
                "type": "file_citation",
                "text": marker(hit, position),
                "file_citation": {"file_id": hit.file_id},
                "filename": hit.filename,
            }
            for position, hit in enumerate(hits)
        ]
        if hits:
            output = "\n\n".join(
                f"{marker(hit, position)}\n{hit.text}" for position, hit in enumerate(hits)
            )
        else:
            output = "No results found in the attached files."
        details = {"ranking_options": ranking, "results": results}
        return ToolResult(output, details, annotations)


FILE_SEARCH = register_tool(FileSearchTool())
