"""The Assistants API's thread messages: create, retrieve, modify, delete, list."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from homeport.api.deps import ObjectIdentityDep, ProjectDep
from homeport.api.json import JSONResponse
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.tool_resources import check_files
from homeport.api.transactions import reads, writes
from homeport.api.validation import reject_nul
from homeport.api.wire.common import render_deleted
from homeport.api.wire.messages import (
    CreateMessageRequest,
    ImageFilePart,
    ModifyMessageRequest,
    render_message,
)
from homeport.engine.status import ACTIVE, PAUSED, QUEUED
from homeport.errors import BUSY_THREAD, InvalidRequest, not_found
from homeport.store.models import Conversation, Item, Run
from homeport.store.repos import conversations, items
from homeport.store.repos.detached import by_project_id, detached, find_row

router = APIRouter(tags=["Assistants"], dependencies=[Depends(reject_nul)])

BUSY = (QUEUED, *ACTIVE, *PAUSED)
_ACTIVE_RUN = (
    select(Run.id)
    .where(Run.conversation_id == bindparam("p_id"), Run.kind == "run", Run.status.in_(BUSY))
    .limit(1)
    .scalar_subquery()
    .label("active_run")
)
# Built once: every new message and run on a thread reads it.
_THREAD_AND_ACTIVE_RUN = by_project_id(cast(Table, Conversation.__table__)).add_columns(_ACTIVE_RUN)


def insert_message(
    session: Session,
    *,
    project_id: str,
    thread_id: str,
    body: CreateMessageRequest,
    run_id: str | None = None,
    message_id: str | None = None,
    created_at: int | None = None,
    param: str = "",
) -> Item:
    """Store a client's message (a create-message request, a thread's initial messages or a
    run's additional messages) as a completed message item. Its attachments' files and image
    files must exist (``param`` prefixes the parameter an unknown one is reported in, e.g.
    ``messages[0].``)."""
    parts = body.content if isinstance(body.content, list) else ()
    check_files(
        session,
        project_id,
        (
            *(
                (f"{param}attachments[{index}].file_id", attachment.file_id)
                for index, attachment in enumerate(body.attachments or ())
            ),
            *(
                (f"{param}content[{index}].image_file.file_id", part.image_file.file_id)
                for index, part in enumerate(parts)
                if isinstance(part, ImageFilePart)
            ),
        ),
    )
    return items.add_item(
        session,
        project_id=project_id,
        type="message",
        conversation_id=thread_id,
        role=body.role,
        content=body.content_parts(),
        attachments=body.stored_attachments(),
        metadata=body.metadata,
        run_id=run_id,
        item_id=message_id,
        created_at=created_at,
    )


def thread_and_active_run(
    session: Session, *, project_id: str, thread_id: str
) -> tuple[Conversation, str | None]:
    """The project's thread (detached; 404 if there is none) and the ID of its active run, if
    any, in one read: a new message or run needs both."""
    row = find_row(session, _THREAD_AND_ACTIVE_RUN, project_id, thread_id)
    if row is None:
        raise not_found("thread", thread_id)
    active_run: str | None = row.pop("active_run")
    return detached(Conversation, row), active_run


def ensure_idle(
    thread_id: str, active_run: str | None, adding: Literal["message", "run"] = "message"
) -> None:
    """OpenAI refuses a new message or a new run while a run of the thread is active (queued,
    in progress, cancelling or waiting for tool outputs); so does homeport, in OpenAI's words."""
    if active_run is not None:
        raise InvalidRequest(BUSY_THREAD[adding].format(thread=thread_id, run=active_run))


@router.post("/threads/{thread_id}/messages")
@writes
def create_message(
    thread_id: str,
    body: CreateMessageRequest,
    session: Session,
    project_id: ProjectDep,
    identity: ObjectIdentityDep,
) -> JSONResponse:
    _, active_run = thread_and_active_run(session, project_id=project_id, thread_id=thread_id)
    ensure_idle(thread_id, active_run)
    item = insert_message(
        session,
        project_id=project_id,
        thread_id=thread_id,
        body=body,
        message_id=identity[0],
        created_at=identity[1],
    )
    return JSONResponse(render_message(item))


@router.get("/threads/{thread_id}/messages")
@reads
def list_messages(
    thread_id: str,
    session: Session,
    project_id: ProjectDep,
    page: Annotated[PageParams, Depends(page_params)],
    run_id: str | None = None,
) -> JSONResponse:
    conversations.get_conversation(session, project_id=project_id, conversation_id=thread_id)
    stmt = items.messages_query(project_id=project_id, conversation_id=thread_id, run_id=run_id)
    rows, has_more = paginate(session, stmt, Item, page)
    return JSONResponse(list_page(rows, has_more, render_message))


@router.get("/threads/{thread_id}/messages/{message_id}")
@reads
def retrieve_message(
    thread_id: str, message_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    conversations.get_conversation(session, project_id=project_id, conversation_id=thread_id)
    item = items.get_message(
        session, project_id=project_id, conversation_id=thread_id, message_id=message_id
    )
    return JSONResponse(render_message(item))


@router.post("/threads/{thread_id}/messages/{message_id}")
@writes
def modify_message(
    thread_id: str,
    message_id: str,
    body: ModifyMessageRequest,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    conversations.get_conversation(session, project_id=project_id, conversation_id=thread_id)
    item = items.get_message(
        session, project_id=project_id, conversation_id=thread_id, message_id=message_id
    )
    if "metadata" in body.model_fields_set:
        items.update_message(session, message=item, metadata=body.metadata or {})
    return JSONResponse(render_message(item))


@router.delete("/threads/{thread_id}/messages/{message_id}")
@writes
def delete_message(
    thread_id: str, message_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    conversations.get_conversation(session, project_id=project_id, conversation_id=thread_id)
    items.delete_message(
        session, project_id=project_id, conversation_id=thread_id, message_id=message_id
    )
    return JSONResponse(render_deleted(message_id, "thread.message"))
