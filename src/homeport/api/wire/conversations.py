"""Conversations: create and update requests, the conversation object and item lists.

A conversation is a ``conversations`` row; threads made through the Assistants API are
conversations too (``thread_…`` IDs) and read the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from homeport.api.wire.common import Metadata, WireModel
from homeport.api.wire.response_items import parse_items
from homeport.store.models import Conversation

MAX_ITEMS_PER_CALL = 20


def _items(value: list[Any] | None) -> list[Any] | None:
    if value is None:
        return None
    return parse_items(value, param="items", limit=MAX_ITEMS_PER_CALL)


class CreateConversationRequest(WireModel):
    metadata: Metadata = None
    items: Annotated[list[Any] | None, AfterValidator(_items)] = None


class UpdateConversationRequest(WireModel):
    metadata: Metadata


class CreateItemsRequest(WireModel):
    items: Annotated[list[Any], Field(min_length=1), AfterValidator(_items)]


def render_conversation(conversation: Conversation) -> dict[str, Any]:
    """The spec's ``ConversationResource``."""
    return {
        "id": conversation.id,
        "object": "conversation",
        "created_at": conversation.created_at,
        "metadata": conversation.metadata_ or {},
    }
