"""Conversations: create and update requests, the conversation object and item lists.

A conversation is a ``conversations`` row; threads made through the Assistants API are
conversations too (``thread_…`` IDs) and read the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from homeport.api.wire.common import Metadata, WireModel
from homeport.api.wire.response_items import InputItem
from homeport.store.models import Conversation

MAX_ITEMS_PER_CALL = 20


class CreateConversationRequest(WireModel):
    metadata: Metadata = None
    items: Annotated[list[InputItem], Field(max_length=MAX_ITEMS_PER_CALL)] | None = None


class UpdateConversationRequest(WireModel):
    metadata: Metadata


class CreateItemsRequest(WireModel):
    items: Annotated[list[InputItem], Field(min_length=1, max_length=MAX_ITEMS_PER_CALL)]


def render_conversation(conversation: Conversation) -> dict[str, Any]:
    """The spec's ``ConversationResource``."""
    return {
        "id": conversation.id,
        "object": "conversation",
        "created_at": conversation.created_at,
        "metadata": conversation.metadata_ or {},
    }
