"""Assistants: create and modify requests, and the assistant object."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from homeport.api.wire.common import (
    Metadata,
    ReasoningEffort,
    ResponseFormat,
    Temperature,
    ToolResources,
    ToolResourcesCreate,
    Tools,
    TopP,
    WireModel,
    stored_response_format,
    stored_tools,
)
from homeport.store.models import Agent

Name = Annotated[str, Field(max_length=256)] | None
Description = Annotated[str, Field(max_length=512)] | None
Instructions = Annotated[str, Field(max_length=256_000)] | None


class _AssistantFields(WireModel):
    name: Name = None
    description: Description = None
    instructions: Instructions = None
    reasoning_effort: ReasoningEffort = None
    tools: Tools = Field(default_factory=list)
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    response_format: ResponseFormat = None

    def fields(self) -> dict[str, Any]:
        """The fields the client set, in their stored form (tool resources excepted: the route
        resolves them, since a ``vector_stores`` helper creates vector stores)."""
        out: dict[str, Any] = {}
        for key in self.model_fields_set - {"tool_resources", "model"}:
            value = getattr(self, key)
            if key == "tools":
                value = stored_tools(value)
            elif key == "response_format":
                value = stored_response_format(value)
            elif key == "metadata":
                value = value or {}
            out[key] = value
        return out


class CreateAssistantRequest(_AssistantFields):
    model: Annotated[str, Field(min_length=1, max_length=256)]
    tool_resources: ToolResourcesCreate | None = None


class ModifyAssistantRequest(_AssistantFields):
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    tool_resources: ToolResources | None = None

    def fields(self) -> dict[str, Any]:
        out = super().fields()
        if self.model is not None:
            out["model"] = self.model
        return out


def render_assistant(agent: Agent) -> dict[str, Any]:
    """The spec's AssistantObject."""
    return {
        "id": agent.id,
        "object": "assistant",
        "created_at": agent.created_at,
        "name": agent.name,
        "description": agent.description,
        "model": agent.model,
        "instructions": agent.instructions,
        "tools": agent.tools,
        "tool_resources": agent.tool_resources,
        "metadata": agent.metadata_,
        "temperature": 1.0 if agent.temperature is None else agent.temperature,
        "top_p": 1.0 if agent.top_p is None else agent.top_p,
        "response_format": agent.response_format or "auto",
        "reasoning_effort": agent.reasoning_effort,
    }
