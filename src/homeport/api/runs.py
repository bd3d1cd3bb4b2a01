"""The Assistants API's runs and run steps: create (also with a new thread), retrieve, modify,
list, cancel, submit tool outputs; steps list and retrieve; ``stream: true`` on every call that
starts or resumes a run.

A run is created queued with its first events in one transaction, then handed to the engine.
Unknown models are refused at creation (400 naming the fix) rather than failing later.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from homeport.api.deps import ProjectDep, ServicesDep
from homeport.api.json import JSONResponse
from homeport.api.messages import ensure_idle, insert_message, thread_and_active_run
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.threads import new_thread
from homeport.api.tool_resources import checked_resources, vector_store_maker
from homeport.api.wire.common import stored_response_format, stored_tools
from homeport.api.wire.runs import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    NamedTool,
    RunOptions,
    SubmitToolOutputsRequest,
    render_run,
    render_step,
)
from homeport.api.wire.threads import CreateThreadRequest, render_thread
from homeport.engine.adapter import RunRow, RunScope
from homeport.engine.events import encode_sse, last_event_number
from homeport.engine.executor import Executor
from homeport.engine.providers.registry import no_route_message
from homeport.engine.rows import ITEMS, RUNS, item_row
from homeport.engine.status import PAUSED, QUEUED, REQUIRES_ACTION, TERMINAL
from homeport.engine.tools import check_tool_types
from homeport.errors import InvalidRequest, not_found
from homeport.ids import new_id
from homeport.services import Services
from homeport.store import checks
from homeport.store.bulk import insert_rows
from homeport.store.models import Agent, Conversation, Item, Run, RunStep, now
from homeport.store.repos import conversations

router = APIRouter(tags=["Assistants"])

POLL_HEADERS = {"openai-poll-after-ms": "20"}
"""Tell the SDK's pollers (create_and_poll, ...) to come back soon: runs are quick here."""
POLL_HELPER_HEADER = "x-stainless-poll-helper"
POLL_INTERVAL_HEADER = "x-stainless-custom-poll-interval"
POLL_WAIT_SECONDS = 2.0
"""The longest a polling helper's retrieve waits for the run to settle (a long poll)."""
T = TypeVar("T")
Prepared = tuple[RunRow, "Executor | None"]
"""A queued run's row, and its executor if this process claimed it in the same transaction."""

IncludeDep = Annotated[list[str] | None, Query(alias="include[]")]


async def _db(services: Services, fn: Callable[[Session], T]) -> T:
    assert services.engine is not None
    return await services.engine.db_session(fn)


async def _read(services: Services, fn: Callable[[Session], T]) -> T:
    assert services.engine is not None
    return await services.engine.read_session(fn)


def _row(obj: Any) -> dict[str, Any]:
    """An ORM object's column values keyed by column name (``metadata``, not ``metadata_``)."""
    mapper = obj.__mapper__
    return {attr.columns[0].name: getattr(obj, attr.key) for attr in mapper.column_attrs}


def _run_response(row: RunRow) -> JSONResponse:
    return JSONResponse(render_run(row), headers=POLL_HEADERS)


def _stream(services: Services, run_id: str, after: int) -> StreamingResponse:
    engine = services.engine
    assert engine is not None

    async def body() -> AsyncIterator[bytes]:
        async for batch in engine.events(run_id, after):
            yield b"".join(encode_sse(event, data) for _, event, data in batch)

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


def _get_run(session: Session, project_id: str, thread_id: str, run_id: str) -> Run:
    run = session.scalar(
        select(Run).where(Run.id == run_id, Run.project_id == project_id, Run.kind == "run")
    )
    if run is None or run.conversation_id != thread_id:
        raise not_found("run", run_id)
    return run


_LOAD_RUN = select(*(c for c in RUNS.c if c.name != "seq")).where(
    RUNS.c.id == bindparam("p_id"),
    RUNS.c.project_id == bindparam("p_project"),
    RUNS.c.kind == "run",
)


def _load_run(conn: Connection, project_id: str, thread_id: str, run_id: str) -> RunRow:
    """``_get_run`` without the ORM, for the polled retrieve."""
    found = conn.execute(_LOAD_RUN, {"p_id": run_id, "p_project": project_id}).mappings().first()
    if found is None or found["conversation_id"] != thread_id:
        raise not_found("run", run_id)
    return dict(found)


def _merge_resources(*sources: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for source in sources:
        for tool, resources in (source or {}).items():
            target = merged.setdefault(tool, {})
            for key, values in resources.items():
                target[key] = [
                    *target.get(key, []),
                    *(v for v in values if v not in target.get(key, [])),
                ]
    return merged


def _new_run(
    services: Services,
    session: Session,
    *,
    project_id: str,
    thread: Conversation,
    agent: Agent,
    body: RunOptions,
    include: list[str] | None,
    additional_instructions: str | None = None,
    tool_resources: dict[str, Any] | None = None,
) -> RunRow:
    model = body.model or agent.model
    if services.settings.route(model) is None:
        raise InvalidRequest(no_route_message(model), param="model")
    tools = stored_tools(body.tools) if body.tools is not None else list(agent.tools or [])
    check_tool_types(tools)
    fields = body.model_fields_set
    instructions = body.instructions if "instructions" in fields else agent.instructions
    if additional_instructions:
        instructions = "\n\n".join(p for p in (instructions, additional_instructions) if p)
    created = now()
    params = {
        "temperature": body.temperature if "temperature" in fields else agent.temperature,
        "top_p": body.top_p if "top_p" in fields else agent.top_p,
        "response_format": stored_response_format(body.response_format)
        if "response_format" in fields
        else agent.response_format,
        "reasoning_effort": body.reasoning_effort or agent.reasoning_effort,
        "tool_choice": body.tool_choice.model_dump(exclude_none=True)
        if isinstance(body.tool_choice, NamedTool)
        else body.tool_choice,
        "parallel_tool_calls": True
        if body.parallel_tool_calls is None
        else body.parallel_tool_calls,
        "max_prompt_tokens": body.max_prompt_tokens,
        "max_completion_tokens": body.max_completion_tokens,
        "truncation_strategy": body.truncation_strategy.model_dump()
        if body.truncation_strategy
        else None,
        "include": include or [],
    }
    row: RunRow = {
        "id": new_id("run"),
        "project_id": project_id,
        "kind": "run",
        "conversation_id": thread.id,
        "agent_id": agent.id,
        "status": QUEUED,
        "model": model,
        "instructions": instructions,
        "tools": tools,
        "tool_resources": _merge_resources(
            agent.tool_resources, thread.tool_resources, tool_resources or {}
        ),
        "params": params,
        "metadata": body.metadata or {},
        "required_action": None,
        "last_error": None,
        "incomplete_details": None,
        "usage": None,
        "created_at": created,
        "started_at": None,
        "expires_at": created + services.settings.engine.run_expiry_seconds,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "previous_response_id": None,
        "store": True,
        "background": False,
        "cancel_requested": False,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": 0,
    }
    return row


def _queue(
    services: Services,
    session: Session,
    row: RunRow,
    made: tuple[Conversation, list[Item]] | None = None,
) -> Prepared:
    """Insert the new run with its first events, claimed by this process if it has room (the
    run then starts without a transaction of its own). ``made``: the thread created in this
    transaction and its messages (the run's whole context, so it is not read back)."""
    engine = services.engine
    assert engine is not None
    scope = RunScope(services, row, next_n=1)
    if made is not None:
        scope.emit("thread.created", render_thread(made[0]))
    rendered = orjson.dumps(render_run(row)).decode()
    scope.emit("thread.run.created", rendered)
    scope.emit("thread.run.queued", rendered)
    seed = scope.pending_events()
    claimed = engine.claim_new(row)
    conn = session.connection()
    insert_rows(conn, RUNS, [claimed or row])
    scope.flush(conn)
    if claimed is None:
        return row, None
    items = None if made is None else [_context_item(m) for m in made[1]]
    return row, engine.prepare(conn, claimed, seed=seed, items=items)


def _context_item(message: Item) -> dict[str, Any]:
    """A message as the engine's context read gives it (see ``RunAdapter.context_items``)."""
    return {
        "id": message.id,
        "type": message.type,
        "role": message.role,
        "content": message.content,
        "data": message.data,
    }


async def _creating(
    services: Services,
    create: Callable[[Session], Prepared],
    background: BackgroundTasks | None = None,
) -> Prepared:
    """``create`` in one transaction; once more, reading its assistant afresh, if the cached one
    changed meanwhile (``AgentCache``), without what the rolled-back attempt left to do after
    the answer."""
    try:
        return await _db(services, create)
    except DBAPIError as exc:
        if not checks.failed(exc, checks.STALE_AGENT):
            raise
    services.agent_cache.clear()
    if background is not None:
        background.tasks.clear()
    return await _db(services, create)


async def _started(services: Services, prepared: Prepared, stream: bool | None) -> Response:
    assert services.engine is not None
    row, executor = prepared
    services.engine.launch(row["id"], executor)
    if stream:
        return _stream(services, row["id"], 0)
    return _run_response(row)


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str,
    body: CreateRunRequest,
    services: ServicesDep,
    project_id: ProjectDep,
    include: IncludeDep = None,
) -> Response:
    def create(session: Session) -> Prepared:
        thread, active_run = thread_and_active_run(
            session, project_id=project_id, thread_id=thread_id
        )
        agent = services.agent_cache.get(session, project_id=project_id, agent_id=body.assistant_id)
        ensure_idle(thread_id, active_run, adding="run")
        row = _new_run(
            services,
            session,
            project_id=project_id,
            thread=thread,
            agent=agent,
            body=body,
            include=include,
            additional_instructions=body.additional_instructions,
        )
        for index, message in enumerate(body.additional_messages or ()):
            insert_message(
                session,
                project_id=project_id,
                thread_id=thread_id,
                body=message,
                param=f"additional_messages[{index}].",
            )
        return _queue(services, session, row)

    return await _started(services, await _creating(services, create), body.stream)


@router.post("/threads/runs")
async def create_thread_and_run(
    body: CreateThreadAndRunRequest,
    services: ServicesDep,
    project_id: ProjectDep,
    background: BackgroundTasks,
) -> Response:
    def create(session: Session) -> Prepared:
        agent = services.agent_cache.get(session, project_id=project_id, agent_id=body.assistant_id)
        make_store = vector_store_maker(
            session, services=services, project_id=project_id, background=background
        )
        made = new_thread(
            session,
            project_id=project_id,
            body=body.thread or CreateThreadRequest(),
            make_vector_store=make_store,
            param="thread.",
        )
        resources = checked_resources(session, project_id, body.tool_resources)
        row = _new_run(
            services,
            session,
            project_id=project_id,
            thread=made[0],
            agent=agent,
            body=body,
            include=None,
            tool_resources=resources,
        )
        return _queue(services, session, row, made)

    return await _started(services, await _creating(services, create, background), body.stream)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str,
    services: ServicesDep,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> JSONResponse:
    def read(session: Session) -> dict[str, Any]:
        conversations.get_conversation(session, project_id=project_id, conversation_id=thread_id)
        stmt = select(Run).where(
            Run.project_id == project_id, Run.conversation_id == thread_id, Run.kind == "run"
        )
        rows, has_more = paginate(session, stmt, Run, page)
        return list_page(rows, has_more, lambda r: render_run(_row(r)))

    return JSONResponse(await _read(services, read))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(
    thread_id: str, run_id: str, services: ServicesDep, project_id: ProjectDep, request: Request
) -> JSONResponse:
    engine = services.engine
    assert engine is not None
    wait = _poll_wait(request)
    mine = {"project_id": project_id, "conversation_id": thread_id, "kind": "run"}
    if wait and engine.owns(run_id, **mine):  # executing here: no read before the wait
        row = await engine.wait(run_id, wait)
        if not row:
            raise not_found("run", run_id)
        return _run_response(row)
    row = await engine.read(lambda conn: _load_run(conn, project_id, thread_id, run_id))
    if wait and row["status"] not in TERMINAL and row["status"] not in PAUSED:
        row = await engine.wait(run_id, wait) or row
    return _run_response(row)


def _poll_wait(request: Request) -> float:
    """How long a retrieve may wait for the run to settle: the SDK's polling helpers
    (``create_and_poll``, ``poll``) mark their calls, and would only ask again after the poll
    interval anyway; a run that settles meanwhile is answered at once."""
    headers = request.headers
    if headers.get(POLL_HELPER_HEADER) != "true":
        return 0.0
    custom = headers.get(POLL_INTERVAL_HEADER, "")
    if custom.isdigit():
        return min(int(custom) / 1000, POLL_WAIT_SECONDS)
    return POLL_WAIT_SECONDS


@router.post("/threads/{thread_id}/runs/{run_id}")
async def modify_run(
    thread_id: str,
    run_id: str,
    body: ModifyRunRequest,
    services: ServicesDep,
    project_id: ProjectDep,
) -> JSONResponse:
    def modify(session: Session) -> RunRow:
        run = _get_run(session, project_id, thread_id, run_id)
        if "metadata" in body.model_fields_set:
            session.execute(
                update(RUNS).where(RUNS.c.id == run_id).values(metadata=body.metadata or {})
            )
            session.refresh(run)
        return _row(run)

    return _run_response(await _db(services, modify))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str, run_id: str, services: ServicesDep, project_id: ProjectDep
) -> JSONResponse:
    assert services.engine is not None
    await services.engine.read(lambda conn: _load_run(conn, project_id, thread_id, run_id))
    return _run_response(await services.engine.cancel(run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    thread_id: str,
    run_id: str,
    body: SubmitToolOutputsRequest,
    services: ServicesDep,
    project_id: ProjectDep,
) -> Response:
    def submit(session: Session) -> tuple[Prepared, int]:
        run = _get_run(session, project_id, thread_id, run_id)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            session.refresh(run, with_for_update=True)
        row = _row(run)
        if row["status"] != REQUIRES_ACTION:
            raise InvalidRequest(f'Runs in status "{row["status"]}" do not accept tool outputs.')
        pending = [c["id"] for c in row["required_action"]["submit_tool_outputs"]["tool_calls"]]
        given = [o.tool_call_id for o in body.tool_outputs]
        for index, call_id in enumerate(given):
            if call_id not in pending:
                raise InvalidRequest(
                    f"Invalid tool_call_id: {call_id}. Expected one of {', '.join(pending)}.",
                    param=f"tool_outputs[{index}].tool_call_id",
                )
        missing = [c for c in pending if c not in given]
        if missing:
            raise InvalidRequest(
                f"Expected tool outputs for call_ids {pending}, got {given}.", param="tool_outputs"
            )
        created = now()
        insert_rows(
            session.connection(),
            ITEMS,
            [
                item_row(
                    project_id=project_id,
                    type="function_call_output",
                    created_at=created,
                    conversation_id=thread_id,
                    run_id=run_id,
                    agent_id=row["agent_id"],
                    io="input",
                    data={"call_id": o.tool_call_id, "output": o.output},
                )
                for o in body.tool_outputs
            ],
        )
        after = last_event_number(session.connection(), run_id)
        scope = RunScope(services, row, next_n=after + 1)
        scope.set_status(QUEUED, required_action=None)
        scope.emit("thread.run.queued", render_run(scope.run))
        seed = scope.pending_events()
        conn = session.connection()
        scope.flush(conn)
        assert services.engine is not None
        return (scope.run, services.engine.prepare(conn, run_id, seed=seed)), after

    (row, executor), after = await _db(services, submit)
    assert services.engine is not None
    services.engine.launch(run_id, executor)
    if body.stream:
        return _stream(services, run_id, after)
    return _run_response(row)


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_steps(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
    include: IncludeDep = None,
) -> JSONResponse:
    shown = frozenset(include or ())

    def read(session: Session) -> dict[str, Any]:
        _get_run(session, project_id, thread_id, run_id)
        stmt = select(RunStep).where(RunStep.run_id == run_id)
        rows, has_more = paginate(session, stmt, RunStep, page)
        return list_page(rows, has_more, lambda s: render_step(_row(s), shown))

    return JSONResponse(await _read(services, read))


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    services: ServicesDep,
    project_id: ProjectDep,
    include: IncludeDep = None,
) -> JSONResponse:
    def read(session: Session) -> dict[str, Any]:
        _get_run(session, project_id, thread_id, run_id)
        step = session.scalar(
            select(RunStep).where(RunStep.id == step_id, RunStep.run_id == run_id)
        )
        if step is None:
            raise not_found("run step", step_id)
        return render_step(_row(step), frozenset(include or ()))

    return JSONResponse(await _read(services, read))
