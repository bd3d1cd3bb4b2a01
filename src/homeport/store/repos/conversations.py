"""Conversations: threads (``thread_…``) and conversations (``conv_…``), one table.

Either protocol reads either kind; ``noun`` only words the not-found error the way the caller's
protocol does ("No thread found …" or "No conversation found …").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, delete, update
from sqlalchemy.orm import Session

from homeport.errors import not_found
from homeport.store.bulk import insert_rows
from homeport.store.models import Conversation, now
from homeport.store.repos.detached import by_project_id, detached, find_detached
from homeport.store.repos.identity import assign_id

_TABLE = cast(Table, Conversation.__table__)


def create_conversation(
    session: Session,
    *,
    project_id: str,
    prefix: str = "thread",
    metadata: Mapping[str, str] | None = None,
    tool_resources: Mapping[str, Any] | None = None,
    conversation_id: str | None = None,
    created_at: int | None = None,
) -> Conversation:
    """Insert a thread (``prefix="thread"``) or conversation (``prefix="conv"``) with a Core
    statement and return it detached; ``conversation_id``/``created_at`` keep an imported one's
    identity (409 if taken)."""
    row = {
        "id": assign_id(session, Conversation, prefix=prefix, object_id=conversation_id),
        "project_id": project_id,
        "created_at": created_at if created_at is not None else now(),
        "metadata": dict(metadata or {}),
        "tool_resources": dict(tool_resources or {}),
    }
    insert_rows(session.connection(), _TABLE, [row])
    return detached(Conversation, row)


_BY_ID = by_project_id(_TABLE)
"""Built once: most thread, message and run requests look their thread up first."""


def get_conversation(
    session: Session, *, project_id: str, conversation_id: str, noun: str = "thread"
) -> Conversation:
    """The project's thread or conversation (detached), or 404 in the caller's words."""
    conversation = find_detached(session, Conversation, _BY_ID, project_id, conversation_id)
    if conversation is None:
        raise not_found(noun, conversation_id)
    return conversation


def update_conversation(
    session: Session,
    *,
    conversation: Conversation,
    metadata: Mapping[str, str] | None = None,
    tool_resources: Mapping[str, Any] | None = None,
) -> Conversation:
    """Replace metadata and/or tool resources (``None`` leaves a field as it is)."""
    values: dict[str, Any] = {}
    if metadata is not None:
        conversation.metadata_ = values["metadata"] = dict(metadata)
    if tool_resources is not None:
        conversation.tool_resources = values["tool_resources"] = dict(tool_resources)
    if values:
        session.connection().execute(
            update(_TABLE).where(_TABLE.c.id == conversation.id).values(values)
        )
    return conversation


def delete_conversation(
    session: Session, *, project_id: str, conversation_id: str, noun: str = "thread"
) -> None:
    """Delete it with its items, runs, steps and events (the foreign keys cascade)."""
    result = session.execute(
        delete(Conversation).where(
            Conversation.id == conversation_id, Conversation.project_id == project_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise not_found(noun, conversation_id)
