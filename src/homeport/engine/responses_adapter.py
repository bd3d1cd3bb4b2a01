"""Responses API responses: output items and ``response.*`` events as OpenAI's.

Event order for one response (each event carries ``sequence_number``, from 0)::

    response.created, response.in_progress
    per output item:
      reasoning:      output_item.added, reasoning_text.delta*, reasoning_text.done,
                      output_item.done
      message:        output_item.added, content_part.added, output_text.delta*,
                      output_text.annotation.added*, output_text.done, content_part.done,
                      output_item.done
      function_call:  output_item.added, function_call_arguments.delta,
                      function_call_arguments.done, output_item.done
      file_search:    output_item.added, file_search_call.in_progress,
                      file_search_call.searching, file_search_call.completed, output_item.done
    response.completed | response.incomplete | response.failed | response.cancelled

Client function calls end the response (``completed`` with ``function_call`` output items);
the client answers with ``function_call_output`` items in a new response. The stored
``sequence_number`` is the event log's ``n`` minus one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete

from homeport.api.wire.response_items import file_search_results, output_text, render_annotations
from homeport.api.wire.responses import render_response
from homeport.engine.adapter import RunAdapter, RunPlan
from homeport.engine.status import CANCELLED, COMPLETED, EXPIRED, FAILED, INCOMPLETE
from homeport.engine.types import ToolCall, ToolOutcome, Usage
from homeport.ids import new_id
from homeport.store.models import Item
from homeport.store.repos.responses import ITEMS, context_rows, item_values

TERMINAL_EVENTS = {
    COMPLETED: "response.completed",
    INCOMPLETE: "response.incomplete",
    FAILED: "response.failed",
    EXPIRED: "response.failed",
    CANCELLED: "response.cancelled",
}
END_STAMPS = {COMPLETED: "completed_at", FAILED: "failed_at", CANCELLED: "cancelled_at"}


def chat_tool_choice(choice: Any) -> Any:
    """Responses ``tool_choice`` -> chat-completions ``tool_choice``."""
    if not isinstance(choice, dict):
        return choice
    kind = choice.get("type")
    if kind == "allowed_tools":
        return choice.get("mode", "auto")
    name = choice.get("name") if kind == "function" else kind
    return {"type": "function", "function": {"name": name}}


def chat_response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """Responses ``text.format`` -> chat-completions ``response_format``."""
    fmt = (text or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "description", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def chat_function(tool: dict[str, Any]) -> dict[str, Any]:
    """A Responses function tool -> a chat-completions tool."""
    function = {"name": tool["name"]}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _allowed(choice: Any) -> set[str] | None:
    """Tool names an ``allowed_tools`` choice permits (None: every tool)."""
    if not isinstance(choice, dict) or choice.get("type") != "allowed_tools":
        return None
    return {t.get("name") or t.get("type") for t in choice.get("tools") or ()}


@dataclass
class _Open:
    """An output item being written: its rendered form, index and accumulated text."""

    item: dict[str, Any]
    index: int
    text: list[str] = field(default_factory=list)


class Adapter(RunAdapter):
    kind = "response"

    def __init__(self, scope: Any) -> None:
        super().__init__(scope)
        params = scope.run.get("params") or {}
        self.include = frozenset(params.get("include") or ())
        self.output: list[dict[str, Any]] = []
        self.message: _Open | None = None
        self.reasoning: _Open | None = None
        self.searches: dict[str, _Open] = {}

    # -- setup ---------------------------------------------------------------------------

    def plan(self) -> RunPlan:
        run = self.scope.run
        params = run.get("params") or {}
        choice = params.get("tool_choice", "auto")
        allowed = _allowed(choice)
        tools = [t for t in run.get("tools") or () if allowed is None or _name(t) in allowed]
        reasoning = params.get("reasoning") or {}
        return RunPlan(
            model=run["model"],
            instructions=run.get("instructions"),
            functions=[chat_function(t) for t in tools if t["type"] == "function"],
            server_tools=[t for t in tools if t["type"] != "function"],
            tool_choice=chat_tool_choice(choice),
            parallel_tool_calls=params.get("parallel_tool_calls"),
            temperature=params.get("temperature"),
            top_p=params.get("top_p"),
            response_format=chat_response_format(params.get("text")),
            reasoning_effort=reasoning.get("effort"),
            max_output_tokens=params.get("max_output_tokens"),
            truncation=("auto" if params.get("truncation") == "auto" else "disabled", None),
            user=params.get("user"),
        )

    def context_items(self, conn: Connection) -> list[dict[str, Any]]:
        rows = context_rows(conn, self.scope.run)
        for row in rows:
            if row["role"] == "developer":
                row["role"] = "system"
        return rows

    # -- events --------------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        self.scope.emit(kind, {"type": kind, "sequence_number": self.scope.next_n - 1, **fields})

    def _lifecycle(self, kind: str, status: str | None = None) -> None:
        self._emit(kind, response=render_response(self.scope.run, self.output, status=status))

    def _open(self, item: dict[str, Any]) -> _Open:
        opened = _Open(item, len(self.output))
        self.output.append(item)
        self._emit("response.output_item.added", output_index=opened.index, item=item)
        return opened

    def _done(self, opened: _Open, row: dict[str, Any]) -> None:
        """Emit ``output_item.done`` and queue the item's row."""
        self._emit("response.output_item.done", output_index=opened.index, item=opened.item)
        run = self.scope.run
        values = item_values(
            row,
            project_id=run["project_id"],
            response_id=run["id"],
            io="output",
            conversation_id=run["conversation_id"],
            created_at=self.scope.now(),
        )
        values["id"] = opened.item["id"]
        self.scope.insert(ITEMS, values)

    # -- hooks ---------------------------------------------------------------------------

    def begin(self, resumed: bool) -> None:
        if resumed:  # taken over after a worker died: start the output again
            self.scope.write(
                delete(Item).where(Item.response_id == self.scope.run_id, Item.io == "output")
            )
        else:
            self._lifecycle("response.created")
        self._lifecycle("response.in_progress")

    def reasoning_delta(self, text: str) -> None:
        if self.reasoning is None:
            item = {
                "id": new_id("rs"),
                "type": "reasoning",
                "summary": [],
                "content": [],
                "status": "in_progress",
            }
            self.reasoning = self._open(item)
        opened = self.reasoning
        opened.text.append(text)
        self._emit(
            "response.reasoning_text.delta",
            item_id=opened.item["id"],
            output_index=opened.index,
            content_index=0,
            delta=text,
        )

    def _close_reasoning(self, status: str = COMPLETED) -> None:
        opened, self.reasoning = self.reasoning, None
        if opened is None:
            return
        text = "".join(opened.text)
        self._emit(
            "response.reasoning_text.done",
            item_id=opened.item["id"],
            output_index=opened.index,
            content_index=0,
            text=text,
        )
        content = [{"type": "reasoning_text", "text": text}]
        opened.item.update(content=content, status=status)
        self._done(
            opened,
            {"type": "reasoning", "status": status, "content": content, "data": {"summary": []}},
        )

    def message_started(self) -> None:
        self._close_reasoning()
        item = {
            "id": new_id("msg"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.message = self._open(item)
        self._emit(
            "response.content_part.added",
            item_id=item["id"],
            output_index=self.message.index,
            content_index=0,
            part=output_text(""),
        )

    def text_delta(self, text: str) -> None:
        opened = self.message
        assert opened is not None
        opened.text.append(text)
        self._emit(
            "response.output_text.delta",
            item_id=opened.item["id"],
            output_index=opened.index,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def message_done(
        self, text: str, annotations: list[dict[str, Any]], usage: Usage, incomplete: str | None
    ) -> None:
        opened, self.message = self.message, None
        assert opened is not None
        item_id, index = opened.item["id"], opened.index
        notes = render_annotations(annotations)
        for n, note in enumerate(notes):
            self._emit(
                "response.output_text.annotation.added",
                item_id=item_id,
                output_index=index,
                content_index=0,
                annotation_index=n,
                annotation=note,
            )
        part = output_text(text, notes)
        self._emit(
            "response.output_text.done",
            item_id=item_id,
            output_index=index,
            content_index=0,
            text=text,
            logprobs=[],
        )
        self._emit(
            "response.content_part.done",
            item_id=item_id,
            output_index=index,
            content_index=0,
            part=part,
        )
        status = COMPLETED if incomplete is None else INCOMPLETE
        opened.item.update(status=status, content=[part])
        self._done(
            opened, {"type": "message", "role": "assistant", "status": status, "content": [part]}
        )

    def tool_calls_made(self, calls: list[ToolCall], usage: Usage) -> None:
        self._close_reasoning()
        for call in calls:
            if call.server:
                self._search_started(call)
            else:
                self._function_call(call)

    def _function_call(self, call: ToolCall) -> None:
        item = {
            "id": new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call.id,
            "name": call.name,
            "arguments": "",
        }
        opened = self._open(item)
        fields = {"item_id": item["id"], "output_index": opened.index}
        self._emit("response.function_call_arguments.delta", **fields, delta=call.arguments)
        self._emit(
            "response.function_call_arguments.done",
            **fields,
            name=call.name,
            arguments=call.arguments,
        )
        item.update(status=COMPLETED, arguments=call.arguments)
        data = {"call_id": call.id, "name": call.name, "arguments": call.arguments}
        self._done(opened, {"type": "function_call", "status": COMPLETED, "data": data})

    def _search_started(self, call: ToolCall) -> None:
        item = {
            "id": new_id("fs"),
            "type": "file_search_call",
            "status": "in_progress",
            "queries": _queries(call.arguments),
            "results": None,
        }
        opened = self._open(item)
        self.searches[call.id] = opened
        fields = {"item_id": item["id"], "output_index": opened.index}
        self._emit("response.file_search_call.in_progress", **fields)
        self._emit("response.file_search_call.searching", **fields)

    def tool_results(self, outcomes: list[ToolOutcome]) -> None:
        for outcome in outcomes:
            opened = self.searches.pop(outcome.call.id, None)
            if opened is None:
                continue
            item = opened.item
            self._emit(
                "response.file_search_call.completed", item_id=item["id"], output_index=opened.index
            )
            results = file_search_results(outcome.details)
            item.update(
                status=COMPLETED,
                results=results if "file_search_call.results" in self.include else None,
            )
            data = {
                "call_id": outcome.call.id,
                "name": outcome.call.name,
                "arguments": outcome.call.arguments,
                "output": outcome.output,
                "queries": item["queries"],
                **outcome.details,
            }
            self._done(opened, {"type": "file_search_call", "status": COMPLETED, "data": data})

    def requires_action(self, calls: list[ToolCall]) -> None:
        """A response does not pause: it completes with its function_call items."""
        self.finish(COMPLETED, usage=self.scope.usage)

    def finish(
        self,
        status: str,
        *,
        usage: Usage | None = None,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> None:
        scope = self.scope
        self._close_reasoning(INCOMPLETE)
        if self.message is not None:
            self.message_done("".join(self.message.text), [], scope.usage, "stopped")
        for call_id in list(self.searches):
            opened = self.searches.pop(call_id)
            opened.item["status"] = INCOMPLETE
            self._done(
                opened,
                {
                    "type": "file_search_call",
                    "status": INCOMPLETE,
                    "data": {"call_id": call_id, "queries": opened.item["queries"]},
                },
            )
        changes: dict[str, Any] = {}
        if status in END_STAMPS:
            changes[END_STAMPS[status]] = scope.now()
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            changes["usage"] = usage.as_dict()
        if error is not None:
            changes["last_error"] = error
        if incomplete_details is not None:
            changes["incomplete_details"] = incomplete_details
        scope.set_status(status, **changes)
        self._lifecycle(TERMINAL_EVENTS[status])
        scope.end_stream()


def _name(tool: dict[str, Any]) -> str:
    return str(tool.get("name") or tool.get("type"))


def _queries(arguments: str) -> list[str]:
    """The queries of a file_search call's arguments (``queries`` list or one ``query``)."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return []
    if not isinstance(args, dict):
        return []
    queries = args.get("queries")
    if isinstance(queries, list):
        return [str(q) for q in queries]
    query = args.get("query")
    return [str(query)] if query else []
