"""The Responses API: create (plain, streamed, background), retrieve (or re-attach to its
stream), cancel, delete and list input items.

``POST /responses`` inserts the response and its input items and claims it for this process in
one transaction, starts the run and, unless it is a background response, follows the run's
events in memory: the final ``response.*`` event carries the response object that is returned
(no polling, no reads after the run). ``store: false`` responses are deleted once they end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from homeport.api.deps import ProjectDep, ServicesDep
from homeport.api.json import JSONResponse
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.transactions import reads
from homeport.api.wire.response_items import (
    IncludeDep,
    ItemReference,
    copied_item,
    item_row,
    render_item,
    stored_item,
)
from homeport.api.wire.responses import (
    CreateResponseRequest,
    render_response,
)
from homeport.engine.adapter import DONE
from homeport.engine.engine import Engine
from homeport.engine.events import encode_sse
from homeport.engine.executor import Executor
from homeport.engine.providers.registry import no_route_message
from homeport.engine.status import CANCELLED, TERMINAL
from homeport.errors import HomeportError, InvalidRequest
from homeport.services import Services
from homeport.store.models import Item
from homeport.store.repos import responses as repo

router = APIRouter(tags=["Responses"])

FINAL_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "response.cancelled"}
)
CANCEL_WAIT_SECONDS = 10.0
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def engine_of(services: Services) -> Engine:
    engine = services.engine
    if engine is None:
        raise HomeportError("The run engine is not configured on this server.")
    return engine


# Create ------------------------------------------------------------------------------------


def _check(body: CreateResponseRequest, engine: Engine) -> None:
    if body.previous_response_id is not None and body.conversation_id is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
    if not engine.providers.has_route(body.model):
        raise InvalidRequest(no_route_message(body.model), param="model", code="model_not_found")


def _insert(
    conn: Connection, body: CreateResponseRequest, project_id: str, expiry: int, engine: Engine
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Insert the response and its input items: queued, or claimed by this process if it has
    room. Returns the queued row (what the client sees) and the claimed one, if any."""
    conversation_id = body.conversation_id
    if body.previous_response_id is not None:
        repo.check_previous(conn, project_id=project_id, response_id=body.previous_response_id)
    if conversation_id is not None:
        repo.check_conversation(conn, project_id=project_id, conversation_id=conversation_id)
    run = repo.new_response_row(
        {
            "project_id": project_id,
            "conversation_id": conversation_id,
            "model": body.model,
            "instructions": body.instructions,
            "tools": body.tools,
            "params": body.params(),
            "metadata": body.metadata or {},
            "previous_response_id": body.previous_response_id,
            "store": body.store is not False,
            "background": bool(body.background),
        }
    )
    run["expires_at"] = run["created_at"] + expiry
    inputs = body.input if isinstance(body.input, list) else []
    refs = [item.id for item in inputs if isinstance(item, ItemReference)]
    found = repo.find_items(conn, project_id=project_id, item_ids=refs)
    rows = []
    if isinstance(body.input, str):
        rows.append(
            {
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": body.input}],
            }
        )
    for index, item in enumerate(inputs):
        if isinstance(item, ItemReference):
            if item.id not in found:
                raise InvalidRequest(
                    f"Item with id '{item.id}' not found.", param=f"input[{index}].id"
                )
            rows.append(copied_item(found[item.id]))
        else:
            rows.append(stored_item(item))
    values = [
        repo.item_values(
            fields,
            project_id=project_id,
            response_id=run["id"],
            io="input",
            conversation_id=conversation_id,
            created_at=run["created_at"],
        )
        for fields in rows
    ]
    claimed = engine.claim_new(run)
    repo.insert_response(conn, claimed or run, values)
    return run, claimed


async def _committed(engine: Engine, response_id: str) -> None:
    """Wait until this process has committed the run's writes (events reach subscribers
    before their transaction commits)."""
    live = engine.bus.live.get(response_id)
    if live is not None:
        await live.ended.wait()


async def _final(engine: Engine, response_id: str) -> bytes:
    """Follow the run's events to its final ``response.*`` event; returns the response JSON
    once the run's writes are committed."""
    final: bytes | None = None
    async for batch in engine.events(response_id, 0):
        for _, event, data in batch:
            if event in FINAL_EVENTS:
                final = orjson.dumps(orjson.loads(data)["response"])
    await _committed(engine, response_id)
    if final is None:
        raise HomeportError(f"Response '{response_id}' ended without a result.")
    return final


async def _stream(
    engine: Engine, response_id: str, after: int, *, discard: bool = False
) -> AsyncIterator[bytes]:
    """The response's server-sent events after event number ``after``, each batch of events
    available at once in one chunk; the stream ends with the final ``response.*`` event.
    ``discard`` deletes a ``store: false`` response after."""
    try:
        async for batch in engine.events(response_id, after):
            chunk = []
            for _, event, data in batch:
                if event == DONE:
                    break
                if event in FINAL_EVENTS:  # a client may read the response right after it
                    await _committed(engine, response_id)
                chunk.append(encode_sse(event, data))
            if chunk:
                yield b"".join(chunk)
    finally:
        if discard:
            _discard_later(engine, response_id)


_cleanups: set[asyncio.Task[None]] = set()


def _discard_later(engine: Engine, response_id: str) -> None:
    async def discard() -> None:
        await engine.wait(response_id)
        await engine.db(lambda conn: repo.delete_response(conn, response_id=response_id))

    task = asyncio.get_running_loop().create_task(discard())
    _cleanups.add(task)
    task.add_done_callback(_cleanups.discard)


def _event_stream(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)


class RawJSON(JSONResponse):
    """A response whose body is already JSON."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


@router.post("/responses", response_model=None)
async def create_response(
    body: CreateResponseRequest, services: ServicesDep, project_id: ProjectDep
) -> JSONResponse | StreamingResponse:
    engine = engine_of(services)
    _check(body, engine)
    expiry = services.settings.engine.run_expiry_seconds

    def create(conn: Connection) -> tuple[dict[str, Any], Executor | None]:
        run, claimed = _insert(conn, body, project_id, expiry, engine)
        return run, None if claimed is None else engine.prepare(conn, claimed, next_n=1)

    run, executor = await engine.db(create)
    response_id = run["id"]
    engine.launch(response_id, executor)
    if body.stream:
        return _event_stream(_stream(engine, response_id, 0, discard=not run["store"]))
    if body.background:
        return JSONResponse(render_response(run, []))
    final = await _final(engine, response_id)
    if not run["store"]:
        await engine.db(lambda conn: repo.delete_response(conn, response_id=response_id))
    return RawJSON(final)


# Read, cancel, delete ----------------------------------------------------------------------


def _load(conn: Connection, project_id: str, response_id: str, include: frozenset[str]) -> Any:
    run = repo.get_response(conn, project_id=project_id, response_id=response_id)
    output = [render_item(row, include) for row in repo.output_items(conn, response_id)]
    return render_response(run, output)


async def _get(engine: Engine, project_id: str, response_id: str) -> dict[str, Any]:
    return await engine.read(
        lambda conn: repo.get_response(conn, project_id=project_id, response_id=response_id)
    )


@router.get("/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str,
    services: ServicesDep,
    project_id: ProjectDep,
    include: IncludeDep,
    stream: bool = False,
    starting_after: int | None = None,
) -> JSONResponse | StreamingResponse:
    engine = engine_of(services)
    if stream:
        await _get(engine, project_id, response_id)
        after = 0 if starting_after is None else starting_after + 1
        return _event_stream(_stream(engine, response_id, after))
    body = await engine.read(lambda conn: _load(conn, project_id, response_id, include))
    return JSONResponse(body)


@router.post("/responses/{response_id}/cancel")
async def cancel_response(
    response_id: str, services: ServicesDep, project_id: ProjectDep
) -> JSONResponse:
    engine = engine_of(services)
    run = await _get(engine, project_id, response_id)
    if not run["background"]:
        raise InvalidRequest(
            "Only responses created with background=true can be cancelled.", param="response_id"
        )
    if run["status"] in TERMINAL and run["status"] != CANCELLED:
        raise InvalidRequest(
            f"Cannot cancel a response with status '{run['status']}'.", param="response_id"
        )
    if run["status"] != CANCELLED:
        await engine.cancel(response_id)
        await engine.wait(response_id, CANCEL_WAIT_SECONDS)
    body = await engine.read(lambda conn: _load(conn, project_id, response_id, frozenset()))
    return JSONResponse(body)


@router.delete("/responses/{response_id}")
async def delete_response(
    response_id: str, services: ServicesDep, project_id: ProjectDep
) -> Response:
    engine = engine_of(services)
    run = await _get(engine, project_id, response_id)
    if run["status"] not in TERMINAL:
        await engine.cancel(response_id)
        await engine.wait(response_id, CANCEL_WAIT_SECONDS)
    await engine.db(lambda conn: repo.delete_response(conn, response_id=response_id))
    return Response(status_code=200)  # the spec documents no body


@router.get("/responses/{response_id}/input_items")
@reads
def list_input_items(
    response_id: str,
    session: Session,
    project_id: ProjectDep,
    include: IncludeDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> JSONResponse:
    repo.get_response(session.connection(), project_id=project_id, response_id=response_id)
    stmt = repo.input_items_query(project_id=project_id, response_id=response_id)
    rows, has_more = paginate(session, stmt, Item, params)
    return JSONResponse(list_page(rows, has_more, lambda i: render_item(item_row(i), include)))
