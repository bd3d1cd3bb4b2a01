"""Turn the gateway's captured HTTP exchanges into ``Answer`` and ``TurnContext`` objects.

Understands, JSON or streamed: Responses (``response`` objects and their ``response.completed``
event), Chat Completions (completions and chunks) and Assistants (runs and the
``thread.message``/``thread.run`` objects of a run's event stream). A non-streamed Assistants run
creation carries no answer yet (the run is queued), so it gives ``None``: not comparable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from homeport.compare.answers import Answer, ToolCall, TurnContext
from homeport.compare.transcripts import content_text
from homeport.gateway.seams import CapturedRequest, CapturedResponse


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    return (
        usage.get("input_tokens", usage.get("prompt_tokens")),
        usage.get("output_tokens", usage.get("completion_tokens")),
    )


class _Collected:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[str, ToolCall] = {}
        self.chunk_calls: dict[int, list[str]] = {}
        self.error: str | None = None
        self.usage: tuple[int | None, int | None] = (None, None)
        self.answered = False

    def response(self, doc: dict[str, Any]) -> None:
        self.answered = doc.get("status") not in ("queued", "in_progress")
        if doc.get("status") == "failed":
            self.error = str((doc.get("error") or {}).get("code") or "failed")
        for item in doc.get("output") or ():
            if item.get("type") == "message":
                for part in item.get("content") or ():
                    if part.get("type") == "output_text":
                        self.text.append(part.get("text", ""))
                    elif part.get("type") == "refusal":
                        self.refusal.append(part.get("refusal", ""))
            elif item.get("type") == "function_call":
                self.calls[item["call_id"]] = ToolCall(item["name"], item.get("arguments", "{}"))
        self.usage = _usage(doc.get("usage"))

    def completion(self, doc: dict[str, Any]) -> None:
        self.answered = True
        for choice in doc.get("choices") or ():
            part = choice.get("message") or choice.get("delta") or {}
            self.text.append(part.get("content") or "")
            self.refusal.append(part.get("refusal") or "")
            for n, call in enumerate(part.get("tool_calls") or ()):
                slot = self.chunk_calls.setdefault(call.get("index", n), ["", ""])
                function = call.get("function") or {}
                slot[0] += function.get("name") or ""
                slot[1] += function.get("arguments") or ""
        if doc.get("usage"):
            self.usage = _usage(doc["usage"])

    def run(self, doc: dict[str, Any]) -> None:
        status = doc.get("status")
        if status in ("failed", "expired", "cancelled"):
            self.answered = True
            self.error = str((doc.get("last_error") or {}).get("code") or status)
        action = (doc.get("required_action") or {}).get("submit_tool_outputs") or {}
        for call in action.get("tool_calls") or ():
            self.answered = True
            function = call.get("function") or {}
            self.calls[call["id"]] = ToolCall(
                function.get("name", ""), function.get("arguments", "{}")
            )
        if status == "completed":
            self.answered = True
            self.usage = _usage(doc.get("usage"))

    def message(self, doc: dict[str, Any]) -> None:
        if doc.get("role") == "assistant" and doc.get("status") == "completed":
            self.answered = True
            self.text.append(content_text(doc.get("content")))

    def add(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            return
        if doc.get("type", "").startswith("response.") and isinstance(doc.get("response"), dict):
            doc = doc["response"]
        kind = doc.get("object")
        if kind == "response":
            self.response(doc)
        elif kind in ("chat.completion", "chat.completion.chunk"):
            self.completion(doc)
        elif kind == "thread.run":
            self.run(doc)
        elif kind == "thread.message":
            self.message(doc)


def answer_of(captured: CapturedResponse) -> Answer | None:
    """The answer in a captured response; None when it holds none yet (a queued run)."""
    timing = Answer(latency_s=captured.total_seconds, ttft_s=captured.ttft_seconds)
    if not captured.ok:
        return replace(timing, error=captured.error or f"http {captured.status}")
    collected = _Collected()
    try:
        documents = captured.events() if captured.streamed else [captured.json()]
    except orjson.JSONDecodeError:
        return replace(timing, error="unreadable body")
    for doc in documents:
        collected.add(doc)
    if not collected.answered:
        return None
    calls = list(collected.calls.values()) + [
        ToolCall(name, arguments or "{}")
        for _, (name, arguments) in sorted(collected.chunk_calls.items())
    ]
    return replace(
        timing,
        text="".join(collected.text),
        tool_calls=tuple(calls),
        error=collected.error,
        refusal="".join(collected.refusal) or None,
        input_tokens=collected.usage[0],
        output_tokens=collected.usage[1],
    )


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    for message in reversed(messages or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def context_of(request: CapturedRequest) -> TurnContext:
    """The user's words, output format and tools of a model call, in any of the protocols."""
    try:
        body = request.json()
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return TurnContext()
    question = _last_user_text(
        body.get("input")
        or body.get("messages")
        or body.get("additional_messages")
        or (body.get("thread") or {}).get("messages")
    )
    response_format = (body.get("text") or {}).get("format") or body.get("response_format")
    return TurnContext(
        question=question,
        response_format=response_format,
        tools=tuple(body.get("tools") or ()),
        agent_id=body.get("assistant_id") or body.get("model"),
    )
