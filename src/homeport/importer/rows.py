"""Bundle records to store rows: one function per table, shared by the importer and reconcile
(so what is compared is exactly what was written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeport.bundle import Record

Row = dict[str, Any]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def agent(r: Record) -> Row:
    return {
        "id": r["id"],
        "created_at": r.get("created_at") or 0,
        "name": r.get("name"),
        "description": r.get("description"),
        "model": r.get("model") or "",
        "instructions": r.get("instructions"),
        "tools": _list(r.get("tools")),
        "tool_resources": _dict(r.get("tool_resources")),
        "metadata": _dict(r.get("metadata")),
        "temperature": r.get("temperature"),
        "top_p": r.get("top_p"),
        "response_format": r.get("response_format"),
        "reasoning_effort": r.get("reasoning_effort"),
    }


def conversation(r: Record) -> Row:
    return {
        "id": r["id"],
        "created_at": r.get("created_at") or 0,
        "metadata": _dict(r.get("metadata")),
        "tool_resources": _dict(r.get("tool_resources")),
    }


def item(r: Record) -> Row:
    return {
        "id": r["id"],
        "conversation_id": r.get("conversation_id"),
        "response_id": r.get("response_id"),
        "io": r.get("io"),
        "created_at": r.get("created_at") or 0,
        "type": r.get("type") or "message",
        "role": r.get("role"),
        "status": r.get("status"),
        "content": _list(r.get("content")),
        "attachments": _list(r.get("attachments")),
        "metadata": _dict(r.get("metadata")),
        "agent_id": r.get("agent_id"),
        "run_id": r.get("run_id"),
        "completed_at": r.get("completed_at"),
        "incomplete_at": r.get("incomplete_at"),
        "incomplete_details": r.get("incomplete_details"),
        "data": _dict(r.get("data")),
    }


def run(r: Record) -> Row:
    return {
        "id": r["id"],
        "kind": r.get("kind") or "run",
        "conversation_id": r.get("conversation_id"),
        "agent_id": r.get("agent_id"),
        "status": r.get("status") or "completed",
        "model": r.get("model") or "",
        "instructions": r.get("instructions"),
        "tools": _list(r.get("tools")),
        "tool_resources": _dict(r.get("tool_resources")),
        "params": _dict(r.get("params")),
        "metadata": _dict(r.get("metadata")),
        "required_action": r.get("required_action"),
        "last_error": r.get("last_error"),
        "incomplete_details": r.get("incomplete_details"),
        "usage": r.get("usage"),
        "created_at": r.get("created_at") or 0,
        "started_at": r.get("started_at"),
        "expires_at": r.get("expires_at"),
        "cancelled_at": r.get("cancelled_at"),
        "failed_at": r.get("failed_at"),
        "completed_at": r.get("completed_at"),
        "previous_response_id": r.get("previous_response_id"),
    }


def run_step(r: Record) -> Row:
    return {
        "id": r["id"],
        "run_id": r.get("run_id"),
        "conversation_id": r.get("conversation_id"),
        "agent_id": r.get("agent_id"),
        "type": r.get("type") or "message_creation",
        "status": r.get("status") or "completed",
        "step_details": _dict(r.get("step_details")),
        "last_error": r.get("last_error"),
        "usage": r.get("usage"),
        "metadata": _dict(r.get("metadata")),
        "created_at": r.get("created_at") or 0,
        "expired_at": r.get("expired_at"),
        "cancelled_at": r.get("cancelled_at"),
        "failed_at": r.get("failed_at"),
        "completed_at": r.get("completed_at"),
    }


def file(r: Record) -> Row:
    """The file row; ``sha256`` is filled in by the importer once the blob is stored."""
    return {
        "id": r["id"],
        "created_at": r.get("created_at") or 0,
        "filename": r.get("filename") or r["id"],
        "purpose": r.get("purpose") or "assistants",
        "bytes": r.get("bytes") or 0,
        "status": r.get("status") or "processed",
    }


def vector_store(r: Record) -> Row:
    return {
        "id": r["id"],
        "created_at": r.get("created_at") or 0,
        "last_active_at": _dict(r.get("raw")).get("last_active_at") or r.get("created_at") or 0,
        "name": r.get("name") or "",
        "metadata": _dict(r.get("metadata")),
        "expires_after": r.get("expires_after"),
    }


def vector_store_file(r: Record) -> Row:
    return {
        "id": r["id"],
        "vector_store_id": r["vector_store_id"],
        "created_at": r.get("created_at") or 0,
        "attributes": _dict(r.get("attributes")),
        "chunking_strategy": _dict(r.get("chunking_strategy")),
    }


# Part -> (table name, row function). Parts not here (tools, memories) stay in the bundle.
TABLES: dict[str, tuple[str, Callable[[Record], Row]]] = {
    "agents": ("agents", agent),
    "files": ("files", file),
    "vector_stores": ("vector_stores", vector_store),
    "vector_store_files": ("vector_store_files", vector_store_file),
    "conversations": ("conversations", conversation),
    "items": ("items", item),
    "runs": ("runs", run),
    "run_steps": ("run_steps", run_step),
}
