"""OpenAI API objects (Assistants v2, Responses, Conversations, files, vector stores) to bundle
records. Shared by every source that reads OpenAI-shaped objects, live or from a dump."""

from __future__ import annotations

from typing import Any

from homeport.bundle import FLAG_BYTES_UNAVAILABLE, FLAG_PARSED_TEXT_ONLY, Record

RUN_PARAMS = (
    "temperature",
    "top_p",
    "response_format",
    "tool_choice",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "parallel_tool_calls",
    "reasoning_effort",
)
RESPONSE_PARAMS = (
    "temperature",
    "top_p",
    "text",
    "tool_choice",
    "max_output_tokens",
    "max_tool_calls",
    "truncation",
    "parallel_tool_calls",
    "reasoning",
    "user",
    "service_tier",
    "top_logprobs",
    "prompt",
    "prompt_cache_key",
    "safety_identifier",
)
MESSAGE_FIELDS = ("role", "status", "content")
ITEM_COMMON = ("id", "type", "role", "status", "content", "created_at", "object")


def _pick(raw: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: raw.get(name) for name in names}


def agent(raw: dict[str, Any]) -> Record:
    return {
        **_pick(
            raw,
            "id",
            "created_at",
            "name",
            "description",
            "model",
            "instructions",
            "temperature",
            "top_p",
            "response_format",
            "reasoning_effort",
        ),
        "tools": raw.get("tools") or [],
        "tool_resources": raw.get("tool_resources") or {},
        "metadata": raw.get("metadata") or {},
        "extra": {},
        "raw": raw,
    }


def tools(agent_raw: dict[str, Any]) -> list[Record]:
    """The tool inventory of an assistant: who runs each tool."""
    out = []
    for tool in agent_raw.get("tools") or []:
        kind = tool.get("type")
        function = tool.get("function") or {}
        name = function.get("name") or kind
        out.append(
            {
                "id": f"{agent_raw['id']}/{name}",
                "agent_id": agent_raw["id"],
                "type": kind,
                "name": name,
                "description": function.get("description"),
                "parameters": function.get("parameters"),
                "executor": {"kind": "client" if kind == "function" else "platform"},
                "extra": {},
                "raw": tool,
            }
        )
    return out


def conversation(raw: dict[str, Any], *, flags: list[str] | None = None) -> Record:
    record: Record = {
        "id": raw["id"],
        "created_at": raw.get("created_at"),
        "metadata": raw.get("metadata") or {},
        "tool_resources": raw.get("tool_resources") or {},
        "agent_id": None,
        "raw": raw,
    }
    if flags:
        record["flags"] = flags
    return record


def message(raw: dict[str, Any]) -> Record:
    """A thread message (Assistants) as a ``message`` item."""
    return {
        "id": raw["id"],
        "conversation_id": raw.get("thread_id"),
        "created_at": raw.get("created_at"),
        "type": "message",
        **_pick(raw, *MESSAGE_FIELDS, "completed_at", "incomplete_at", "incomplete_details"),
        "attachments": raw.get("attachments") or [],
        "metadata": raw.get("metadata") or {},
        "agent_id": raw.get("assistant_id"),
        "run_id": raw.get("run_id"),
        "data": {},
        "response_id": None,
        "io": None,
        "raw": raw,
    }


def conversation_item(
    raw: dict[str, Any], conversation_id: str | None, created_at: int | None
) -> Record:
    """A Conversations API item; the fields beyond the common ones go to ``data``."""
    return {
        "id": raw["id"],
        "conversation_id": conversation_id,
        "created_at": raw.get("created_at", created_at),
        "type": raw.get("type"),
        "role": raw.get("role"),
        "status": raw.get("status"),
        "content": raw.get("content") or [],
        "attachments": [],
        "metadata": {},
        "agent_id": None,
        "run_id": None,
        "completed_at": None,
        "incomplete_at": None,
        "incomplete_details": None,
        "data": {k: v for k, v in raw.items() if k not in ITEM_COMMON},
        "response_id": None,
        "io": None,
        "raw": raw,
    }


def run(raw: dict[str, Any], *, flags: list[str] | None = None) -> Record:
    record: Record = {
        "id": raw["id"],
        "kind": "run",
        "conversation_id": raw.get("thread_id"),
        "agent_id": raw.get("assistant_id"),
        **_pick(
            raw,
            "status",
            "model",
            "instructions",
            "required_action",
            "last_error",
            "incomplete_details",
            "usage",
            "created_at",
            "started_at",
            "expires_at",
            "cancelled_at",
            "failed_at",
            "completed_at",
        ),
        "tools": raw.get("tools") or [],
        "tool_resources": raw.get("tool_resources") or {},
        "params": {k: raw[k] for k in RUN_PARAMS if k in raw},
        "metadata": raw.get("metadata") or {},
        "previous_response_id": None,
        "raw": raw,
    }
    if flags:
        record["flags"] = flags
    return record


def _response_usage(usage: Any) -> dict[str, int] | None:
    """Responses usage in the neutral (Assistants) shape the bundle uses for every run."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }


def response(raw: dict[str, Any]) -> Record:
    conv = raw.get("conversation")
    error = raw.get("error")
    status = raw.get("status")
    return {
        "id": raw["id"],
        "kind": "response",
        "conversation_id": conv.get("id") if isinstance(conv, dict) else conv,
        "agent_id": None,
        "status": status,
        "model": raw.get("model"),
        "instructions": raw.get("instructions"),
        "tools": raw.get("tools") or [],
        "tool_resources": {},
        "params": {k: raw[k] for k in RESPONSE_PARAMS if k in raw},
        "metadata": raw.get("metadata") or {},
        "required_action": None,
        "last_error": error,
        "incomplete_details": raw.get("incomplete_details"),
        "usage": _response_usage(raw.get("usage")),
        "created_at": raw.get("created_at"),
        "started_at": None,
        "expires_at": None,
        "cancelled_at": None,
        "failed_at": raw.get("created_at") if status == "failed" else None,
        "completed_at": raw.get("completed_at"),
        "previous_response_id": raw.get("previous_response_id"),
        "raw": raw,
    }


def step(raw: dict[str, Any]) -> Record:
    return {
        "id": raw["id"],
        "run_id": raw.get("run_id"),
        "conversation_id": raw.get("thread_id"),
        "agent_id": raw.get("assistant_id"),
        **_pick(
            raw,
            "type",
            "status",
            "step_details",
            "last_error",
            "usage",
            "created_at",
            "expired_at",
            "cancelled_at",
            "failed_at",
            "completed_at",
        ),
        "metadata": raw.get("metadata") or {},
        "raw": raw,
    }


def file(raw: dict[str, Any], *, sha256: str | None, text_sha256: str | None = None) -> Record:
    record: Record = {
        **_pick(raw, "id", "created_at", "filename", "bytes", "purpose", "status"),
        "sha256": sha256,
        "text_sha256": text_sha256,
        "raw": raw,
    }
    flags = []
    if sha256 is None:
        flags.append(FLAG_BYTES_UNAVAILABLE)
        if text_sha256 is not None:
            flags.append(FLAG_PARSED_TEXT_ONLY)
    if flags:
        record["flags"] = flags
    return record


def vector_store(raw: dict[str, Any]) -> Record:
    return {
        **_pick(raw, "id", "created_at", "name", "expires_after", "status"),
        "metadata": raw.get("metadata") or {},
        "extra": {},
        "raw": raw,
    }


def vector_store_file(raw: dict[str, Any], vector_store_id: str | None = None) -> Record:
    return {
        "id": raw["id"],
        "vector_store_id": raw.get("vector_store_id") or vector_store_id,
        **_pick(raw, "created_at", "status", "chunking_strategy"),
        "attributes": raw.get("attributes") or {},
        "raw": raw,
    }
