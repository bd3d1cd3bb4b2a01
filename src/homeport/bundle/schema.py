"""The bundle's record types (parts) and the neutral fields of each.

Every record is a JSON object with the neutral fields below (absent ones read as null), a
``raw`` field holding the platform's own JSON exactly as it was read, and optional ``flags``
(strings the audit reports, e.g. ``bytes_unavailable``). docs/bundle.md is the full spec.
"""

from __future__ import annotations

from typing import Any, Final

from homeport.bundle.errors import BundleError

SCHEMA_VERSION: Final = 1
FORMAT: Final = "homeport-bundle"

Record = dict[str, Any]

# Part name -> neutral fields, in the order the importer loads them (parents first).
PARTS: Final[dict[str, tuple[str, ...]]] = {
    "agents": (
        "id",
        "created_at",
        "name",
        "description",
        "model",
        "instructions",
        "tools",
        "tool_resources",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
        "reasoning_effort",
        "extra",
    ),
    "tools": (
        "id",
        "agent_id",
        "type",
        "name",
        "description",
        "parameters",
        "executor",
        "extra",
    ),
    "files": (
        "id",
        "created_at",
        "filename",
        "bytes",
        "purpose",
        "status",
        "sha256",
        "text_sha256",
    ),
    "vector_stores": (
        "id",
        "created_at",
        "name",
        "metadata",
        "expires_after",
        "status",
        "extra",
    ),
    "vector_store_files": (
        "id",
        "vector_store_id",
        "created_at",
        "status",
        "attributes",
        "chunking_strategy",
    ),
    "conversations": ("id", "created_at", "metadata", "tool_resources", "agent_id"),
    "items": (
        "id",
        "conversation_id",
        "created_at",
        "type",
        "role",
        "status",
        "content",
        "attachments",
        "metadata",
        "agent_id",
        "run_id",
        "completed_at",
        "incomplete_at",
        "incomplete_details",
        "data",
        "response_id",
        "io",
    ),
    "runs": (
        "id",
        "kind",
        "conversation_id",
        "agent_id",
        "status",
        "model",
        "instructions",
        "tools",
        "tool_resources",
        "params",
        "metadata",
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
        "previous_response_id",
    ),
    "run_steps": (
        "id",
        "run_id",
        "conversation_id",
        "agent_id",
        "type",
        "status",
        "step_details",
        "last_error",
        "usage",
        "metadata",
        "created_at",
        "expired_at",
        "cancelled_at",
        "failed_at",
        "completed_at",
    ),
    "memories": ("id", "namespace", "actor_id", "session_id", "created_at", "content"),
}

# Flags a source sets on records for the audit.
FLAG_BYTES_UNAVAILABLE: Final = "bytes_unavailable"
FLAG_PARSED_TEXT_ONLY: Final = "parsed_text_only"
FLAG_AGENT_MISSING: Final = "agent_missing"


def part_file(part: str) -> str:
    return f"{part}.jsonl"


def check_part(part: str) -> None:
    if part not in PARTS:
        raise BundleError(f"unknown bundle part '{part}': expected one of {', '.join(PARTS)}")
