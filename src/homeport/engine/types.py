"""Provider-neutral model requests and stream events.

The canonical message format sent to providers is OpenAI chat-completions ``messages`` and
``tools`` (plain dicts); providers translate to their own wire format. A provider's ``stream``
yields the events below and ends with exactly one ``Finished``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "tool_calls", "length", "content_filter"]


@dataclass(slots=True)
class ModelRequest:
    """One model call. ``model`` is the name clients use; the route maps it to the upstream."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None  # "auto" | "none" | "required" | {"type": "function", ...}
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None  # chat-completions shape
    reasoning_effort: str | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of the ``index``-th tool call: ``id`` and ``name`` come once, ``arguments`` in
    pieces (JSON text) that concatenate to the whole argument string."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finished

ZERO_USAGE = Usage(0, 0)


@dataclass(slots=True)
class ToolCall:
    """A complete tool call the model made. ``server`` is True when homeport runs the tool
    itself (a ``ServerTool`` such as file_search) rather than handing it to the client."""

    id: str
    name: str
    arguments: str
    server: bool = False


@dataclass(slots=True)
class ToolOutcome:
    """The result of one server-side tool call, as the adapter records it."""

    call: ToolCall
    output: str  # what the model sees
    details: dict[str, Any] = field(default_factory=dict)  # e.g. file_search results
    annotations: list[dict[str, Any]] = field(default_factory=list)
