"""The Assistants API's threads: create (with messages), retrieve, modify, delete.

A thread is a conversation row; a ``conv_…`` ID from the Conversations API works here too.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends
from sqlalchemy.orm import Session

from homeport.api.deps import ObjectIdentityDep, ProjectDep, ServicesDep
from homeport.api.json import JSONResponse
from homeport.api.messages import insert_message
from homeport.api.tool_resources import checked_resources, vector_store_maker
from homeport.api.transactions import reads, writes
from homeport.api.validation import reject_nul
from homeport.api.wire.common import VectorStoreMaker, render_deleted
from homeport.api.wire.threads import CreateThreadRequest, ModifyThreadRequest, render_thread
from homeport.store.models import Conversation, Item
from homeport.store.repos import conversations

router = APIRouter(tags=["Assistants"], dependencies=[Depends(reject_nul)])


def new_thread(
    session: Session,
    *,
    project_id: str,
    body: CreateThreadRequest,
    thread_id: str | None = None,
    created_at: int | None = None,
    make_vector_store: VectorStoreMaker | None = None,
    param: str = "",
) -> tuple[Conversation, list[Item]]:
    """Create a thread and its initial messages (also used by create-thread-and-run, whose
    ``param`` is ``"thread."``: the prefix of a bad parameter's name); ``make_vector_store``
    serves a ``vector_stores`` helper (see api/tool_resources.py)."""
    resources = checked_resources(
        session,
        project_id,
        body.tool_resources,
        make_vector_store=make_vector_store,
        param=param,
    )
    thread = conversations.create_conversation(
        session,
        project_id=project_id,
        metadata=body.metadata,
        tool_resources=resources,
        conversation_id=thread_id,
        created_at=created_at,
    )
    messages = [
        insert_message(
            session,
            project_id=project_id,
            thread_id=thread.id,
            body=message,
            created_at=thread.created_at,
            param=f"{param}messages[{index}].",
        )
        for index, message in enumerate(body.messages)
    ]
    return thread, messages


@router.post("/threads")
@writes
def create_thread(
    session: Session,
    services: ServicesDep,
    project_id: ProjectDep,
    identity: ObjectIdentityDep,
    background: BackgroundTasks,
    body: CreateThreadRequest | None = None,
) -> JSONResponse:
    thread, _ = new_thread(
        session,
        project_id=project_id,
        body=body or CreateThreadRequest(),
        thread_id=identity[0],
        created_at=identity[1],
        make_vector_store=vector_store_maker(
            session, services=services, project_id=project_id, background=background
        ),
    )
    return JSONResponse(render_thread(thread))


@router.get("/threads/{thread_id}")
@reads
def retrieve_thread(thread_id: str, session: Session, project_id: ProjectDep) -> JSONResponse:
    thread = conversations.get_conversation(
        session, project_id=project_id, conversation_id=thread_id
    )
    return JSONResponse(render_thread(thread))


@router.post("/threads/{thread_id}")
@writes
def modify_thread(
    thread_id: str, body: ModifyThreadRequest, session: Session, project_id: ProjectDep
) -> JSONResponse:
    thread = conversations.get_conversation(
        session, project_id=project_id, conversation_id=thread_id
    )
    fields = body.model_fields_set
    conversations.update_conversation(
        session,
        conversation=thread,
        metadata=(body.metadata or {}) if "metadata" in fields else None,
        tool_resources=checked_resources(session, project_id, body.tool_resources)
        if "tool_resources" in fields
        else None,
    )
    return JSONResponse(render_thread(thread))


@router.delete("/threads/{thread_id}")
@writes
def delete_thread(thread_id: str, session: Session, project_id: ProjectDep) -> JSONResponse:
    conversations.delete_conversation(session, project_id=project_id, conversation_id=thread_id)
    return JSONResponse(render_deleted(thread_id, "thread"))
