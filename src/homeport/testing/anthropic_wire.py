"""Anthropic Messages API shapes for the scripted model: request -> ChatRequest, Reply -> wire.

Follows Anthropic's published contract: ``POST /v1/messages`` returns a ``message`` object, or
with ``stream: true`` the events message_start, content_block_start/delta/stop (text_delta,
input_json_delta, thinking_delta + signature_delta), message_delta (stop_reason, usage) and
message_stop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from homeport.testing.script import ChatRequest, Reply, content_text

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
Event = tuple[str, dict[str, Any]]


def to_chat_request(body: dict[str, Any]) -> ChatRequest:
    """Translate a Messages API request into the script's OpenAI-shaped request."""
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": content_text(system)})
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
            continue
        texts = [b["text"] for b in content if b.get("type") == "text"]
        uses = [b for b in content if b.get("type") == "tool_use"]
        results = [b for b in content if b.get("type") == "tool_result"]
        if message["role"] == "assistant":
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": json.dumps(b.get("input", {}))},
                }
                for b in uses
            ]
            entry: dict[str, Any] = {"role": "assistant", "content": " ".join(texts) or None}
            if calls:
                entry["tool_calls"] = calls
            messages.append(entry)
            continue
        for result in results:
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": result["tool_use_id"],
                    "content": content_text(result.get("content")),
                }
            )
        if texts:
            messages.append({"role": "user", "content": " ".join(texts)})
    tools = [
        {
            "type": "function",
            "function": {"name": t["name"], "parameters": t.get("input_schema", {})},
        }
        for t in body.get("tools", [])
        if "input_schema" in t
    ]
    choice = body.get("tool_choice") or {}
    kind = choice.get("type", "auto")
    tool_choice: Any = {"any": "required", "none": "none", "auto": "auto"}.get(kind)
    if kind == "tool":
        tool_choice = {"type": "function", "function": {"name": choice["name"]}}
    output_format = (body.get("output_config") or {}).get("format")
    return ChatRequest(
        model=body.get("model", "scripted"),
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=not choice.get("disable_parallel_tool_use", False),
        response_format=(
            {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": output_format.get("schema")},
            }
            if output_format
            else None
        ),
        max_tokens=body.get("max_tokens"),
    )


def _tool_use_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append(
            {
                "type": "thinking",
                "thinking": reply.reasoning,
                "signature": _signature(reply.reasoning),
            }
        )
    if reply.text or not reply.tool_calls:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": _tool_use_id(call.id),
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return blocks


def _signature(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.prompt_tokens,
        "output_tokens": reply.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message(reply: Reply, message_id: str, model: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(reply),
        "stop_reason": STOP_REASONS[reply.finish_reason],
        "stop_sequence": None,
        "usage": _usage(reply),
    }


def error(status: int, text: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": text}}


def stream_events(reply: Reply, message_id: str, model: str, pieces: list[str]) -> Iterator[Event]:
    """The SSE events for ``reply``; ``pieces`` is the text split into streamed chunks."""
    start = message(reply, message_id, model)
    start.update(content=[], stop_reason=None)
    start["usage"] = {**_usage(reply), "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(_blocks(reply)):
        kind = block["type"]
        if kind == "thinking":
            yield _start(index, {"type": "thinking", "thinking": "", "signature": ""})
            yield _delta(index, {"type": "thinking_delta", "thinking": block["thinking"]})
            yield _delta(index, {"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            yield _start(index, {"type": "text", "text": ""})
            for piece in pieces:
                yield _delta(index, {"type": "text_delta", "text": piece})
        else:
            yield _start(index, {**block, "input": {}})
            yield _delta(
                index, {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            )
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS[reply.finish_reason], "stop_sequence": None},
            "usage": {"output_tokens": reply.completion_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _start(index: int, block: dict[str, Any]) -> Event:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
