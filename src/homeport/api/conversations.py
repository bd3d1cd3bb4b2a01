"""The Conversations API: conversations (create with items, retrieve, update, delete) and their
items (list, add up to 20 at a time, retrieve, delete).

A conversation is the same row as an Assistants thread, so a ``thread_…`` ID works here and a
``conv_…`` ID works on the threads routes; items show every kind (messages, tool calls and
outputs, file search calls, reasoning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from homeport.api.deps import ObjectIdentityDep, ProjectDep
from homeport.api.json import JSONResponse
from homeport.api.pagination import PageParams, list_page, page_params, paginate
from homeport.api.transactions import reads, writes
from homeport.api.wire.common import render_deleted
from homeport.api.wire.conversations import (
    CreateConversationRequest,
    CreateItemsRequest,
    UpdateConversationRequest,
    render_conversation,
)
from homeport.api.wire.response_items import (
    IncludeDep,
    ItemReference,
    copied_item,
    item_row,
    render_item,
    stored_item,
)
from homeport.errors import InvalidRequest, not_found
from homeport.store.models import Conversation, Item, now
from homeport.store.repos import conversations, items
from homeport.store.repos.responses import find_items

router = APIRouter(tags=["Conversations"])
NOUN = "conversation"


def _conversation(session: Session, project_id: str, conversation_id: str) -> Conversation:
    return conversations.get_conversation(
        session, project_id=project_id, conversation_id=conversation_id, noun=NOUN
    )


def add_items(
    session: Session,
    *,
    project_id: str,
    conversation_id: str,
    inputs: Sequence[BaseModel],
    created_at: int | None = None,
) -> list[Item]:
    """Store input items in a conversation, in order (item references are copied)."""
    refs = [item.id for item in inputs if isinstance(item, ItemReference)]
    found = find_items(session.connection(), project_id=project_id, item_ids=refs)
    created = created_at if created_at is not None else now()
    added = []
    for index, item in enumerate(inputs):
        if isinstance(item, ItemReference):
            if item.id not in found:
                raise InvalidRequest(
                    f"Item with id '{item.id}' not found.", param=f"items[{index}].id"
                )
            fields: dict[str, Any] = copied_item(found[item.id])
        else:
            fields = stored_item(item)
        added.append(
            items.add_item(
                session,
                project_id=project_id,
                conversation_id=conversation_id,
                created_at=created,
                type=fields["type"],
                role=fields.get("role"),
                status=fields.get("status"),
                content=fields.get("content") or (),
                data=fields.get("data"),
            )
        )
    return added


@router.post("/conversations")
@writes
def create_conversation(
    session: Session,
    project_id: ProjectDep,
    identity: ObjectIdentityDep,
    body: CreateConversationRequest | None = None,
) -> JSONResponse:
    body = body or CreateConversationRequest()
    conversation = conversations.create_conversation(
        session,
        project_id=project_id,
        prefix="conv",
        metadata=body.metadata,
        conversation_id=identity[0],
        created_at=identity[1],
    )
    add_items(
        session,
        project_id=project_id,
        conversation_id=conversation.id,
        inputs=body.items or (),
        created_at=conversation.created_at,
    )
    return JSONResponse(render_conversation(conversation))


@router.get("/conversations/{conversation_id}")
@reads
def retrieve_conversation(
    conversation_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    return JSONResponse(render_conversation(_conversation(session, project_id, conversation_id)))


@router.post("/conversations/{conversation_id}")
@writes
def update_conversation(
    conversation_id: str,
    body: UpdateConversationRequest,
    session: Session,
    project_id: ProjectDep,
) -> JSONResponse:
    conversation = _conversation(session, project_id, conversation_id)
    conversations.update_conversation(
        session, conversation=conversation, metadata=body.metadata or {}
    )
    return JSONResponse(render_conversation(conversation))


@router.delete("/conversations/{conversation_id}")
@writes
def delete_conversation(
    conversation_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    conversations.delete_conversation(
        session, project_id=project_id, conversation_id=conversation_id, noun=NOUN
    )
    return JSONResponse(render_deleted(conversation_id, NOUN))


@router.get("/conversations/{conversation_id}/items")
@reads
def list_items(
    conversation_id: str,
    session: Session,
    project_id: ProjectDep,
    include: IncludeDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> JSONResponse:
    _conversation(session, project_id, conversation_id)
    stmt = select(Item).where(
        Item.project_id == project_id, Item.conversation_id == conversation_id
    )
    rows, has_more = paginate(session, stmt, Item, params)
    return JSONResponse(list_page(rows, has_more, lambda i: render_item(item_row(i), include)))


@router.post("/conversations/{conversation_id}/items")
@writes
def create_items(
    conversation_id: str,
    body: CreateItemsRequest,
    session: Session,
    project_id: ProjectDep,
    include: IncludeDep,
) -> JSONResponse:
    _conversation(session, project_id, conversation_id)
    added = add_items(
        session, project_id=project_id, conversation_id=conversation_id, inputs=body.items
    )
    return JSONResponse(list_page(added, False, lambda i: render_item(item_row(i), include)))


def _item(session: Session, project_id: str, conversation_id: str, item_id: str) -> Item:
    item = session.scalar(
        select(Item).where(
            Item.id == item_id,
            Item.project_id == project_id,
            Item.conversation_id == conversation_id,
        )
    )
    if item is None:
        raise not_found("item", item_id, param="item_id")
    return item


@router.get("/conversations/{conversation_id}/items/{item_id}")
@reads
def retrieve_item(
    conversation_id: str,
    item_id: str,
    session: Session,
    project_id: ProjectDep,
    include: IncludeDep,
) -> JSONResponse:
    _conversation(session, project_id, conversation_id)
    item = _item(session, project_id, conversation_id, item_id)
    return JSONResponse(render_item(item_row(item), include))


@router.delete("/conversations/{conversation_id}/items/{item_id}")
@writes
def delete_item(
    conversation_id: str, item_id: str, session: Session, project_id: ProjectDep
) -> JSONResponse:
    conversation = _conversation(session, project_id, conversation_id)
    item = _item(session, project_id, conversation_id, item_id)
    session.execute(delete(Item).where(Item.seq == item.seq))
    return JSONResponse(render_conversation(conversation))
