"""Items: the entries of a conversation (messages, function calls and outputs, file search calls,
reasoning). A thread's messages are its items of type ``message`` with role user or assistant.

``content`` keeps each protocol's own content parts (Assistants: ``text`` with ``value`` and
``annotations``, ``image_file``, ``image_url``; Responses: ``input_text``, ``output_text``, …);
the renderers of either protocol read both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, delete, select
from sqlalchemy.orm import Session

from homeport.errors import not_found
from homeport.ids import new_id
from homeport.store.bulk import insert_rows
from homeport.store.models import Item, now
from homeport.store.repos.detached import detached
from homeport.store.repos.identity import assign_id

ITEM_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "file_search_call": "fs",
    "reasoning": "rs",
}
THREAD_ROLES = ("user", "assistant")
_TABLE = cast(Table, Item.__table__)


def item_row(
    *,
    project_id: str,
    type: str,
    created_at: int,
    conversation_id: str | None = None,
    role: str | None = None,
    status: str | None = "completed",
    content: Sequence[Any] = (),
    attachments: Sequence[Any] = (),
    metadata: Mapping[str, str] | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    response_id: str | None = None,
    io: str | None = None,
    data: Mapping[str, Any] | None = None,
    completed_at: int | None = None,
    incomplete_at: int | None = None,
    incomplete_details: Mapping[str, Any] | None = None,
    item_id: str | None = None,
) -> dict[str, Any]:
    """A complete ``items`` row keyed by column name (JSON columns are NOT NULL: every one is
    given), for a Core insert; a new ID unless ``item_id`` is given."""
    return {
        "id": item_id or new_id(ITEM_PREFIXES.get(type, "item")),
        "project_id": project_id,
        "conversation_id": conversation_id,
        "response_id": response_id,
        "io": io,
        "created_at": created_at,
        "type": type,
        "role": role,
        "status": status,
        "content": list(content),
        "attachments": list(attachments),
        "metadata": dict(metadata or {}),
        "agent_id": agent_id,
        "run_id": run_id,
        "completed_at": completed_at,
        "incomplete_at": incomplete_at,
        "incomplete_details": dict(incomplete_details) if incomplete_details else None,
        "data": dict(data or {}),
    }


def add_item(
    session: Session, *, item_id: str | None = None, created_at: int | None = None, **fields: Any
) -> Item:
    """Insert one item (``fields``: those of ``item_row``; ``type`` is required) with a Core
    statement and return it as a detached ``Item``. A completed message without
    ``completed_at`` gets its creation time; ``item_id``/``created_at`` keep an imported item's
    identity (409 if the ID is taken)."""
    created = created_at if created_at is not None else now()
    kind = fields["type"]
    completed = fields.get("status", "completed") == "completed"
    if fields.get("completed_at") is None and completed and kind == "message":
        fields["completed_at"] = created
    prefix = ITEM_PREFIXES.get(kind, "item")
    row = item_row(
        item_id=assign_id(session, Item, prefix=prefix, object_id=item_id),
        created_at=created,
        **fields,
    )
    insert_rows(session.connection(), _TABLE, [row])
    return detached(Item, row)


def get_message(
    session: Session, *, project_id: str, conversation_id: str, message_id: str
) -> Item:
    """A message of the conversation, or 404 "No message found with id '…'."."""
    item = session.scalar(
        select(Item).where(
            Item.id == message_id,
            Item.project_id == project_id,
            Item.conversation_id == conversation_id,
            Item.type == "message",
        )
    )
    if item is None:
        raise not_found("message", message_id)
    return item


def update_message(session: Session, *, message: Item, metadata: Mapping[str, str]) -> Item:
    """Replace a message's metadata (the only thing the Assistants API lets a client modify)."""
    message.metadata_ = dict(metadata)
    session.flush()
    return message


def delete_message(
    session: Session, *, project_id: str, conversation_id: str, message_id: str
) -> None:
    result = session.execute(
        delete(Item).where(
            Item.id == message_id,
            Item.project_id == project_id,
            Item.conversation_id == conversation_id,
            Item.type == "message",
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise not_found("message", message_id)


def messages_query(
    *, project_id: str, conversation_id: str, run_id: str | None = None
) -> Select[Item]:
    """A thread's messages (user and assistant message items), unordered (paginate it)."""
    stmt = select(Item).where(
        Item.project_id == project_id,
        Item.conversation_id == conversation_id,
        Item.type == "message",
        Item.role.in_(THREAD_ROLES),
    )
    if run_id is not None:
        stmt = stmt.where(Item.run_id == run_id)
    return stmt
