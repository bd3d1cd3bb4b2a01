"""Responses: the create request and the response object.

A response is a ``runs`` row of kind ``response``. Its request parameters are kept as the client
sent them (``tools``, and in ``params``: ``text``, ``tool_choice``, ``reasoning``, limits …) so
the response object echoes them back as OpenAI does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from homeport.api.wire.common import Metadata, Name64, WireModel
from homeport.api.wire.response_items import INCLUDE_VALUES, MAX_TEXT, parse_items
from homeport.engine.status import CANCELLING, EXPIRED, REQUIRES_ACTION
from homeport.engine.tools import check_tool_types
from homeport.errors import InvalidRequest

MAX_INPUT_ITEMS = 2048
TOOL_CHOICE_MODES = ("none", "auto", "required")


class TextFormatText(WireModel):
    type: Literal["text"]


class TextFormatJsonObject(WireModel):
    type: Literal["json_object"]


class TextFormatJsonSchema(WireModel):
    type: Literal["json_schema"]
    name: Name64
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(WireModel):
    format: Annotated[
        TextFormatText | TextFormatJsonObject | TextFormatJsonSchema, Field(discriminator="type")
    ] = Field(default_factory=lambda: TextFormatText(type="text"))
    verbosity: Literal["low", "medium", "high"] | None = None


class Reasoning(WireModel):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class ConversationRef(WireModel):
    id: str


class CreateResponseRequest(WireModel):
    model: Annotated[str, Field(min_length=1)]
    input: str | list[Any] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_output_tokens: Annotated[int, Field(ge=16)] | None = None
    max_tool_calls: Annotated[int, Field(ge=1)] | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    metadata: Metadata = None
    store: bool | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    background: bool | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    user: str | None = None
    safety_identifier: Annotated[str, Field(max_length=64)] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None

    @field_validator("input")
    @classmethod
    def _input(cls, value: str | list[Any] | None) -> str | list[Any] | None:
        if isinstance(value, list):
            return parse_items(value, param="input", limit=MAX_INPUT_ITEMS)
        if value is not None and len(value) > MAX_TEXT:
            raise InvalidRequest(
                f"Invalid 'input': string too long. Expected a string with maximum length "
                f"{MAX_TEXT}, but got a string with length {len(value)} instead.",
                param="input",
                code="string_above_max_length",
            )
        return value

    @field_validator("tools")
    @classmethod
    def _tools(cls, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        check_tool_types(tools)
        for index, tool in enumerate(tools):
            if tool.get("type") == "function" and not isinstance(tool.get("name"), str):
                raise ValueError(f"tools[{index}].name is required for function tools")
        return tools

    @field_validator("include")
    @classmethod
    def _include(cls, include: list[str] | None) -> list[str] | None:
        for value in include or ():
            if value not in INCLUDE_VALUES:
                raise ValueError(f"'{value}' is not one of {sorted(INCLUDE_VALUES)}")
        return include

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(cls, choice: Any) -> Any:
        if choice is None or choice in TOOL_CHOICE_MODES:
            return choice
        if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
            raise ValueError("expected 'none', 'auto', 'required' or a tool choice object")
        if choice["type"] == "function" and not isinstance(choice.get("name"), str):
            raise ValueError("a function tool choice needs the function's 'name'")
        if choice["type"] == "allowed_tools" and choice.get("mode") not in ("auto", "required"):
            raise ValueError("allowed_tools needs 'mode' ('auto' or 'required') and 'tools'")
        return choice

    @model_validator(mode="after")
    def _combinations(self) -> CreateResponseRequest:
        if self.background and self.store is False:
            raise ValueError("background responses need store: true (the default)")
        return self

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation

    def params(self) -> dict[str, Any]:
        """The ``runs.params`` of this response."""
        text = self.text or TextConfig()
        params: dict[str, Any] = {
            "text": {
                "format": text.format.model_dump(by_alias=True, exclude_none=True),
                "verbosity": text.verbosity or "medium",
            },
            "tool_choice": self.tool_choice if self.tool_choice is not None else "auto",
            "parallel_tool_calls": (
                True if self.parallel_tool_calls is None else self.parallel_tool_calls
            ),
            "truncation": self.truncation or "disabled",
        }
        optional = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_output_tokens": self.max_output_tokens,
            "max_tool_calls": self.max_tool_calls,
            "reasoning": self.reasoning.model_dump(exclude_none=True) if self.reasoning else None,
            "include": self.include,
            "top_logprobs": self.top_logprobs,
            "user": self.user,
            "safety_identifier": self.safety_identifier,
            "prompt_cache_key": self.prompt_cache_key,
            "service_tier": self.service_tier,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params


# Rendering ---------------------------------------------------------------------------------

RunRow = Mapping[str, Any]

_STATUS = {CANCELLING: "in_progress", REQUIRES_ACTION: "in_progress", EXPIRED: "failed"}
"""Run statuses a response has no word for."""

_ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})


def response_status(status: str) -> str:
    return _STATUS.get(status, status)


def render_usage(usage: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Stored usage (``prompt_tokens`` / ``completion_tokens``) as ``ResponseUsage``."""
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens", 0))
    completion = int(usage.get("completion_tokens", 0))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _error(error: Mapping[str, Any] | None, status: str) -> dict[str, Any] | None:
    if status == EXPIRED and not error:
        return {"code": "server_error", "message": "The response expired before it finished."}
    if not error:
        return None
    code = error.get("code")
    return {
        "code": code if code in _ERROR_CODES else "server_error",
        "message": str(error.get("message", "")),
    }


def _incomplete(details: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not details:
        return None
    reason = details.get("reason")
    return {"reason": "content_filter" if reason == "content_filter" else "max_output_tokens"}


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A stored tool as the response shows it (OpenAI's defaults filled in)."""
    if tool.get("type") == "function":
        return {"description": None, "parameters": None, "strict": True, **tool}
    if tool.get("type") == "file_search":
        return {"filters": None, "max_num_results": 20, **tool}
    return dict(tool)


def render_response(
    run: RunRow, output: Sequence[Mapping[str, Any]], *, status: str | None = None
) -> dict[str, Any]:
    """The spec's ``Response`` object for a run row of kind ``response``. ``output`` holds the
    already rendered output items; ``status`` overrides the row's (a queued background
    response announces itself as queued)."""
    params: Mapping[str, Any] = run["params"] or {}
    state = status or response_status(run["status"])
    out: dict[str, Any] = {
        "id": run["id"],
        "object": "response",
        "created_at": run["created_at"],
        "status": state,
        "background": bool(run["background"]),
        "completed_at": run["completed_at"] if state == "completed" else None,
        "error": _error(run["last_error"], run["status"]),
        "incomplete_details": _incomplete(run["incomplete_details"]),
        "instructions": run["instructions"],
        "max_output_tokens": params.get("max_output_tokens"),
        "max_tool_calls": params.get("max_tool_calls"),
        "model": run["model"],
        "output": list(output),
        "parallel_tool_calls": params.get("parallel_tool_calls", True),
        "previous_response_id": run["previous_response_id"],
        "reasoning": params.get("reasoning"),
        "service_tier": params.get("service_tier") or "default",
        "store": bool(run["store"]),
        "temperature": params.get("temperature", 1.0),
        "text": params.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": params.get("tool_choice", "auto"),
        "tools": [_tool(tool) for tool in run["tools"] or ()],
        "top_logprobs": params.get("top_logprobs", 0),
        "top_p": params.get("top_p", 1.0),
        "truncation": params.get("truncation", "disabled"),
        "metadata": run["metadata"] or {},
        "conversation": {"id": run["conversation_id"]} if run["conversation_id"] else None,
        "safety_identifier": params.get("safety_identifier"),
        "prompt_cache_key": params.get("prompt_cache_key"),
    }
    usage = render_usage(run["usage"])
    if usage is not None:
        out["usage"] = usage
    if "user" in params:
        out["user"] = params["user"]
    return out
