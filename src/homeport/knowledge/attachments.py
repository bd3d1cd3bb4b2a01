"""Message attachments for file_search go into the thread's own vector store, as on OpenAI.

The first such attachment makes a store for the thread (expiring 7 days after last use) and
records it in the thread's ``tool_resources.file_search.vector_store_ids``; later attachments
are added to it. ``thread_store`` does this for every attachment of the thread not yet in the
store; the file_search tool calls it before searching (and indexes what it queued at once), and
the messages API may call it when a message is created.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from homeport.errors import NotFound
from homeport.knowledge import stores
from homeport.knowledge.chunking import resolve_strategy
from homeport.store.models.knowledge import VectorStore, VectorStoreFile
from homeport.store.models.runtime import Conversation, Item

THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}


def searchable_attachments(attachments: list[Any]) -> list[str]:
    """File IDs of attachments that carry the file_search tool."""
    found = []
    for attachment in attachments or ():
        tools = attachment.get("tools") or () if isinstance(attachment, dict) else ()
        if any(isinstance(t, dict) and t.get("type") == "file_search" for t in tools):
            found.append(str(attachment["file_id"]))
    return found


def thread_store(
    session: Session, *, project_id: str, conversation_id: str, embedding_model: str
) -> str | None:
    """The thread's attachment store with every file_search attachment queued in it (None when
    the thread has none)."""
    rows = session.scalars(
        select(Item.attachments).where(
            Item.conversation_id == conversation_id, Item.type == "message"
        )
    )
    file_ids = list(
        dict.fromkeys(f for attachments in rows for f in searchable_attachments(attachments))
    )
    if not file_ids:
        return None
    conversation = session.scalar(select(Conversation).where(Conversation.id == conversation_id))
    if conversation is None:
        return None
    store = session.scalar(
        select(VectorStore).where(
            VectorStore.conversation_id == conversation_id, VectorStore.project_id == project_id
        )
    )
    if store is None:
        store = stores.create_store(
            session,
            project_id=project_id,
            embedding_model=embedding_model,
            name=f"Vector store for {conversation_id}",
            expires_after=THREAD_STORE_EXPIRY,
            conversation_id=conversation_id,
        )
        resources = dict(conversation.tool_resources or {})
        search = dict(resources.get("file_search") or {})
        search["vector_store_ids"] = [*search.get("vector_store_ids", []), store.id]
        resources["file_search"] = search
        conversation.tool_resources = resources
    present = set(
        session.scalars(
            select(VectorStoreFile.id).where(VectorStoreFile.vector_store_id == store.id)
        )
    )
    strategy = resolve_strategy(None)
    for file_id in file_ids:
        if file_id not in present:
            with contextlib.suppress(NotFound):  # a deleted attachment has nothing to add
                stores.add_file(session, store, file_id, strategy=strategy)
    session.flush()
    return store.id
