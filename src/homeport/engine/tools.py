"""Server-side tools: tools homeport executes itself during a run (e.g. ``file_search``).

A ``ServerTool`` says how it is offered to the model (as a chat-completions function) and runs a
call. Register an instance with ``register_tool``; the executor looks tools up by their type name
(the ``type`` clients put in ``tools``: ``{"type": "file_search", ...}``). Tool types that are not
registered are rejected at run creation with a 400 naming them (see ``check_tool_types``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeport.errors import InvalidRequest

if TYPE_CHECKING:
    from homeport.services import Services


@dataclass(slots=True)
class ToolContext:
    """What a server tool may use while it runs."""

    services: Services
    project_id: str
    run_id: str
    conversation_id: str | None
    config: dict[str, Any]
    """The client's tool entry (e.g. ``{"type": "file_search", "file_search": {...}}`` for
    Assistants, ``{"type": "file_search", "vector_store_ids": [...]}`` for Responses)."""
    tool_resources: dict[str, Any] = field(default_factory=dict)
    """The run's merged tool resources (assistant + thread), e.g.
    ``{"file_search": {"vector_store_ids": [...]}}``."""


@dataclass(slots=True)
class ToolResult:
    output: str
    """Text the model sees as the tool's output."""
    details: dict[str, Any] = field(default_factory=dict)
    """Protocol data for steps/items: for file_search ``{"ranking_options": ..., "results": [...]}``
    where each result is ``{"file_id", "file_name", "score", "content": [{"type": "text",
    "text": ...}]}``."""
    annotations: list[dict[str, Any]] = field(default_factory=list)
    """Citations the assistant message may carry (``file_citation`` annotations)."""


class ServerTool(ABC):
    """A tool homeport runs. ``type_name`` is the client-facing tool type."""

    type_name: str

    @abstractmethod
    def as_function(self, config: dict[str, Any]) -> dict[str, Any]:
        """The chat-completions tool offered to the model for this tool entry:
        ``{"type": "function", "function": {"name": ..., "description": ..., "parameters": ...}}``.
        The function name should be ``type_name`` so calls route back here."""

    @abstractmethod
    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run one call. Raise ``homeport.errors.HomeportError`` for a failure the model should
        see as the tool output (the run continues); other exceptions fail the run."""


_TOOLS: dict[str, ServerTool] = {}

UNAVAILABLE: dict[str, str] = {
    "code_interpreter": "The code_interpreter tool is not available on homeport: remove it from "
    "the tools of this assistant or run, or run code in a function tool of your own.",
    "computer_use_preview": "The computer_use_preview tool is not available on homeport.",
    "web_search_preview": "The web_search_preview tool is not available on homeport: offer a "
    "function tool that searches instead.",
    "web_search": "The web_search tool is not available on homeport: offer a function tool "
    "that searches instead.",
    "image_generation": "The image_generation tool is not available on homeport.",
}
"""Tool types clients may send that homeport knows and refuses, with the reason."""


def register_tool(tool: ServerTool) -> ServerTool:
    _TOOLS[tool.type_name] = tool
    return tool


def server_tool(type_name: str) -> ServerTool | None:
    """The registered tool for a client tool type, loading built-ins on first use."""
    _load_builtins()
    return _TOOLS.get(type_name)


def check_tool_types(tools: list[dict[str, Any]], *, param: str = "tools") -> None:
    """Raise a 400 naming any tool type that is neither ``function`` nor a registered server
    tool."""
    for index, tool in enumerate(tools):
        kind = tool.get("type")
        if kind == "function":
            continue
        if kind in UNAVAILABLE:
            raise InvalidRequest(UNAVAILABLE[kind], param=f"{param}[{index}].type")
        if not isinstance(kind, str) or server_tool(kind) is None:
            raise InvalidRequest(
                f"Invalid value for '{param}[{index}].type': tool type {kind!r} is not supported.",
                param=f"{param}[{index}].type",
            )


def place_citations(text: str, annotations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The citations of a finished message: a tool's annotation whose ``text`` is the marker it
    gave the model (e.g. ``【12:0†guide.md】``) is kept once per place the model wrote that
    marker, with its ``start_index``/``end_index`` there; markers not written are dropped."""
    placed: list[dict[str, Any]] = []
    for note in annotations:
        mark = note.get("text")
        if not isinstance(mark, str) or not mark:
            continue
        start = text.find(mark)
        while start >= 0:
            placed.append({**note, "start_index": start, "end_index": start + len(mark)})
            start = text.find(mark, start + len(mark))
    return sorted(placed, key=lambda n: n["start_index"])


_builtins_loaded = False


def _load_builtins() -> None:
    """Import the modules that register built-in tools, and ``homeport.tools`` entry points."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group="homeport.tools"):
        entry.load()
