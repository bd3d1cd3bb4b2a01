"""What the model sees: items -> chat-completions messages, instructions, truncation.

Shared by both protocols, so a thread read as a conversation (and the reverse) gives the same
context. Message content may be in Assistants form (``{"type": "text", "text": {"value": ...}}``)
or Responses form (``{"type": "input_text" | "output_text", "text": ...}``); both are read.

Item ``data`` conventions (every protocol writes them this way):
- ``function_call``: ``call_id``, ``name``, ``arguments``
- ``function_call_output``: ``call_id``, ``output``
- ``file_search_call`` (any server tool call): ``call_id``, ``name``, ``arguments``, ``output``
  (the text the model saw), plus protocol details (``queries``, ``results``)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

TOOL_CALL_TYPES = frozenset({"function_call", "file_search_call"})
CHARS_PER_TOKEN = 4
"""Token estimate used for truncation before the model reports real usage."""


def part_text(part: Any) -> str | None:
    """The text of one content part in either protocol's form, or None for non-text parts."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return None
    text = part.get("text")
    if isinstance(text, dict):
        value = text.get("value")
        return value if isinstance(value, str) else ""
    if isinstance(text, str):
        return text
    if part.get("type") == "refusal":
        return str(part.get("refusal", ""))
    return None


def _image_part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "image_url":
        url = part.get("image_url", {})
        url = url.get("url") if isinstance(url, dict) else url
        return {"type": "image_url", "image_url": {"url": url}} if url else None
    if kind == "input_image" and part.get("image_url"):
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    return None


def message_content(content: Any, role: str) -> Any:
    """Item content -> chat content: a string, or parts when there are images (user only)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in content or ():
        text = part_text(part)
        if text is not None:
            texts.append(text)
        elif role == "user" and isinstance(part, dict):
            image = _image_part(part)
            if image is not None:
                images.append(image)
    text = "\n".join(texts)
    if not images:
        return text
    return [{"type": "text", "text": text}, *images] if text else images


def to_messages(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items (column dicts, oldest first) -> chat messages. Consecutive tool calls join one
    assistant message (with the text that came just before them in the same run)."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item["type"]
        data = item.get("data") or {}
        if kind == "message":
            role = item.get("role") or "user"
            messages.append({"role": role, "content": message_content(item.get("content"), role)})
        elif kind in TOOL_CALL_TYPES:
            call = {
                "id": data.get("call_id") or item["id"],
                "type": "function",
                "function": {
                    "name": data.get("name") or kind.removesuffix("_call"),
                    "arguments": data.get("arguments") or "{}",
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            if kind != "function_call" and "output" in data:
                messages.append(_tool_message(call["id"], data["output"]))
        elif kind == "function_call_output":
            messages.append(_tool_message(data.get("call_id", ""), data.get("output", "")))
    return _order_tool_results(messages)


def _tool_message(call_id: str, output: Any) -> dict[str, Any]:
    text = output if isinstance(output, str) else message_content(output, "tool")
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _order_tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each assistant tool-call message's results right after it (server tool results are
    emitted beside their call, client outputs arrive later), as chat APIs require."""
    results = {m["tool_call_id"]: m for m in messages if m["role"] == "tool"}
    ordered: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "tool":
            continue
        ordered.append(message)
        for call in message.get("tool_calls") or ():
            result = results.pop(call["id"], None)
            ordered.append(result or _tool_message(call["id"], "(no output was submitted)"))
    return ordered


def with_instructions(messages: list[dict[str, Any]], instructions: str | None) -> list[Any]:
    if not instructions:
        return messages
    return [{"role": "system", "content": instructions}, *messages]


def estimate_tokens(message: dict[str, Any]) -> int:
    size = len(str(message.get("content") or ""))
    for call in message.get("tool_calls") or ():
        size += len(call["function"]["arguments"]) + len(call["function"]["name"])
    return 4 + size // CHARS_PER_TOKEN


def truncate(
    messages: list[dict[str, Any]], strategy: tuple[str, int | None], budget: int | None
) -> list[dict[str, Any]]:
    """Apply ``("last_messages", n)`` / ``("auto", _)`` / ``("disabled", _)``; ``auto`` drops the
    oldest messages until the estimate fits ``budget``. A cut never starts at a tool result."""
    kind, count = strategy
    if kind == "last_messages" and count is not None:
        messages = messages[-count:] if count > 0 else []
    elif kind == "auto" and budget is not None:
        total = sum(estimate_tokens(m) for m in messages)
        start = 0
        while total > budget and start < len(messages) - 1:
            total -= estimate_tokens(messages[start])
            start += 1
        messages = messages[start:]
    while messages and messages[0]["role"] == "tool":
        messages = messages[1:]
    return messages
