"""Runs and run steps: create / modify / submit-tool-outputs requests, the run and run step
objects. Renderers take column mappings (``RunRow``-style dicts with a ``metadata`` key), which
is what the engine holds while it executes a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from homeport.api.wire.common import (
    Metadata,
    ReasoningEffort,
    ResponseFormat,
    Temperature,
    ToolResources,
    Tools,
    TopP,
    WireModel,
)
from homeport.api.wire.messages import CreateMessageRequest
from homeport.api.wire.threads import CreateThreadRequest

DEFAULT_TRUNCATION = {"type": "auto", "last_messages": None}
FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


class Truncation(WireModel):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


class NamedFunction(WireModel):
    name: str


class NamedTool(WireModel):
    type: Literal["function", "file_search", "code_interpreter"]
    function: NamedFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | NamedTool | None
TokenLimit = Annotated[int, Field(ge=256)] | None


class RunOptions(WireModel):
    """What create-run and create-thread-and-run share."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    tools: Tools | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    stream: bool | None = None
    max_prompt_tokens: TokenLimit = None
    max_completion_tokens: TokenLimit = None
    truncation_strategy: Truncation | None = None
    tool_choice: ToolChoice = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat = None
    reasoning_effort: ReasoningEffort = None


class CreateRunRequest(RunOptions):
    additional_instructions: str | None = None
    additional_messages: list[CreateMessageRequest] | None = None


class CreateThreadAndRunRequest(RunOptions):
    thread: CreateThreadRequest | None = None
    tool_resources: ToolResources | None = None


class ModifyRunRequest(WireModel):
    metadata: Metadata = None


class ToolOutput(WireModel):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputsRequest(WireModel):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


def render_run(run: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's RunObject (``thread.run``)."""
    params = run.get("params") or {}
    return {
        "id": run["id"],
        "object": "thread.run",
        "created_at": run["created_at"],
        "thread_id": run["conversation_id"],
        "assistant_id": run["agent_id"],
        "status": run["status"],
        "required_action": run.get("required_action"),
        "last_error": run.get("last_error"),
        "expires_at": run.get("expires_at"),
        "started_at": run.get("started_at"),
        "cancelled_at": run.get("cancelled_at"),
        "failed_at": run.get("failed_at"),
        "completed_at": run.get("completed_at"),
        "incomplete_details": run.get("incomplete_details"),
        "model": run["model"],
        "instructions": run.get("instructions") or "",
        "tools": run.get("tools") or [],
        "metadata": run.get("metadata") or {},
        "usage": run.get("usage"),
        "temperature": params.get("temperature"),
        "top_p": params.get("top_p"),
        "max_prompt_tokens": params.get("max_prompt_tokens"),
        "max_completion_tokens": params.get("max_completion_tokens"),
        "truncation_strategy": params.get("truncation_strategy") or DEFAULT_TRUNCATION,
        "tool_choice": params.get("tool_choice") or "auto",
        "parallel_tool_calls": params.get("parallel_tool_calls", True),
        "response_format": params.get("response_format") or "auto",
        "reasoning_effort": params.get("reasoning_effort"),
    }


def _without_result_content(details: dict[str, Any]) -> dict[str, Any]:
    calls = []
    for call in details.get("tool_calls", ()):
        search = call.get("file_search")
        if call.get("type") == "file_search" and search and search.get("results"):
            results = [{k: v for k, v in r.items() if k != "content"} for r in search["results"]]
            call = {**call, "file_search": {**search, "results": results}}
        calls.append(call)
    return {**details, "tool_calls": calls}


def render_step(step: Mapping[str, Any], include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The spec's RunStepObject (``thread.run.step``). File search result contents are shown
    only when ``include`` names them, as OpenAI does."""
    details = step["step_details"]
    if details.get("type") == "tool_calls" and FILE_SEARCH_CONTENT not in include:
        details = _without_result_content(details)
    return {
        "id": step["id"],
        "object": "thread.run.step",
        "created_at": step["created_at"],
        "assistant_id": step["agent_id"],
        "thread_id": step["conversation_id"],
        "run_id": step["run_id"],
        "type": step["type"],
        "status": step["status"],
        "step_details": details,
        "last_error": step.get("last_error"),
        "expired_at": step.get("expired_at"),
        "cancelled_at": step.get("cancelled_at"),
        "failed_at": step.get("failed_at"),
        "completed_at": step.get("completed_at"),
        "metadata": step.get("metadata") or {},
        "usage": step.get("usage"),
    }
