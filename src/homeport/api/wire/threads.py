"""Threads: create and modify requests, and the thread object."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from homeport.api.wire.common import Metadata, ToolResources, ToolResourcesCreate, WireModel
from homeport.api.wire.messages import CreateMessageRequest
from homeport.store.models import Conversation


class CreateThreadRequest(WireModel):
    messages: list[CreateMessageRequest] = Field(default_factory=list)
    tool_resources: ToolResourcesCreate | None = None
    metadata: Metadata = None


class ModifyThreadRequest(WireModel):
    tool_resources: ToolResources | None = None
    metadata: Metadata = None


def render_thread(conversation: Conversation) -> dict[str, Any]:
    """The spec's ThreadObject."""
    return {
        "id": conversation.id,
        "object": "thread",
        "created_at": conversation.created_at,
        "tool_resources": conversation.tool_resources,
        "metadata": conversation.metadata_,
    }
