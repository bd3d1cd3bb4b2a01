"""The Anthropic Messages API through the official ``anthropic`` SDK.

Chat-completions messages map to Messages API turns: system/developer messages join the
``system`` prompt; assistant ``tool_calls`` become ``tool_use`` blocks; ``tool`` messages become
``tool_result`` blocks in a user turn; consecutive turns of one role merge (the API wants them
alternating). Streaming ``tool_use`` blocks come back as ``ToolCallDelta`` events.
A ``json_schema`` response format becomes ``output_config.format`` (Anthropic's structured
outputs); ``json_object`` has no schema to give, so it is asked for in the system prompt.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from homeport.config import ModelRoute
from homeport.engine.providers.base import ModelProvider
from homeport.engine.providers.errors import upstream_error
from homeport.engine.types import (
    Finished,
    FinishReason,
    ModelRequest,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)

DEFAULT_MAX_TOKENS = 4096
_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"type": "text", "text": content or ""}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = part["image_url"]["url"]
            if url.startswith("data:"):
                media, _, data = url[5:].partition(";base64,")
                source = {"type": "base64", "media_type": media, "data": data}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
    return blocks


def _arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {"arguments": text}


def to_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Chat-completions messages -> (system prompt, Messages API turns)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role == "user":
            add("user", _user_blocks(message.get("content")))
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _text(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message.get("tool_calls") or ():
                function = call["function"]
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": function["name"],
                        "input": _arguments(function.get("arguments", "")),
                    }
                )
            add("assistant", blocks or [{"type": "text", "text": ""}])
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message["tool_call_id"],
                        "content": _text(message.get("content")),
                    }
                ],
            )
    return "\n\n".join(s for s in system if s), turns


def _tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    result: dict[str, Any]
    if isinstance(choice, dict):
        result = {"type": "tool", "name": choice.get("function", {}).get("name")}
    else:
        result = {"type": {"required": "any", "none": "none"}.get(choice or "auto", "auto")}
    if parallel is False and result["type"] != "none":
        result["disable_parallel_tool_use"] = True
    return result


class AnthropicProvider(ModelProvider):
    def __init__(self, route: ModelRoute) -> None:
        super().__init__(route)
        self.client = anthropic.AsyncAnthropic(
            base_url=route.base_url,
            api_key=route.resolved_api_key() or "homeport",
            timeout=route.timeout_seconds,
            max_retries=route.max_retries,
            default_headers=route.extra_headers or None,
        )

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        system, turns = to_messages(request.messages)
        kind = (request.response_format or {}).get("type", "text")
        if kind == "json_object":
            rule = "Answer with one JSON object only."
            system = f"{system}\n\n{rule}" if system else rule
        body: dict[str, Any] = {
            "model": self.route.upstream,
            "messages": turns,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        if kind == "json_schema" and request.response_format is not None:
            schema = request.response_format.get("json_schema", {}).get("schema") or {}
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {
                    "name": t["function"]["name"],
                    "description": t["function"].get("description") or "",
                    "input_schema": t["function"].get("parameters") or {"type": "object"},
                }
                for t in request.tools
            ]
            choice = _tool_choice(request.tool_choice, request.parallel_tool_calls)
            if choice is not None:
                body["tool_choice"] = choice
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        return body

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        finish: FinishReason = "stop"
        prompt = completion = 0
        tool_index: dict[int, int] = {}
        try:
            events = await self.client.messages.create(**self._body(request))
            async for event in events:
                kind = event.type
                if kind == "message_start":
                    prompt = event.message.usage.input_tokens or 0
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        tool_index[event.index] = len(tool_index)
                        yield ToolCallDelta(tool_index[event.index], block.id, block.name, "")
                elif kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        yield TextDelta(delta.text)
                    elif delta.type == "input_json_delta" and event.index in tool_index:
                        yield ToolCallDelta(tool_index[event.index], arguments=delta.partial_json)
                    elif delta.type == "thinking_delta":
                        yield ReasoningDelta(delta.thinking)
                elif kind == "message_delta":
                    completion = event.usage.output_tokens or 0
                    if event.delta.stop_reason:
                        finish = _STOP.get(event.delta.stop_reason, "stop")
        except anthropic.AnthropicError as exc:
            raise upstream_error(exc, self.route) from exc
        yield Usage(prompt, completion)
        yield Finished(finish)

    async def aclose(self) -> None:
        await self.client.close()
