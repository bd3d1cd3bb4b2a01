"""Bundle records to store rows, shared by the importer and reconcile (so what is compared is
exactly what was written): a field-by-field mapping per part (``MAPPED``) where a row is its
record's fields, a function where it takes more (files, vector stores)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from homeport.bundle import Record
from homeport.knowledge.chunking import resolve_strategy

Row = dict[str, Any]
STRUCTURED = frozenset({".pdf", ".docx", ".doc", ".pptx", ".xlsx", ".html", ".htm", ".json"})
"""Extensions whose files are not plain text: a parser of the format reads them."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Field:
    """One column filled from one record field (``key``, else the column's name). A required
    field must be there; otherwise a missing, null or empty value becomes ``default``, and in a
    JSON column a default of ``[]`` or ``{}`` also replaces a value of another JSON type."""

    column: str
    key: str = ""
    default: Any = None
    required: bool = False

    @property
    def source(self) -> str:
        return self.key or self.column

    def value(self, r: Record) -> Any:
        if self.required:
            return r[self.source]
        value = r.get(self.source)
        if isinstance(self.default, list):
            return value if isinstance(value, list) else []
        if isinstance(self.default, dict):
            return value if isinstance(value, dict) else {}
        return value if self.default is None else value or self.default


ID = Field("id", required=True)
CREATED = Field("created_at", default=0)
METADATA = Field("metadata", default={})

# Parts whose rows are their records' fields, field by field: the importer has the database
# read them straight from the bundle's lines (``bulk.insert_lines``); reconcile reads them here.
MAPPED: dict[str, tuple[Field, ...]] = {
    "agents": (
        ID,
        CREATED,
        Field("name"),
        Field("description"),
        Field("model", default=""),
        Field("instructions"),
        Field("tools", default=[]),
        Field("tool_resources", default={}),
        METADATA,
        Field("temperature"),
        Field("top_p"),
        Field("response_format"),
        Field("reasoning_effort"),
    ),
    "conversations": (ID, CREATED, METADATA, Field("tool_resources", default={})),
    "items": (
        ID,
        Field("conversation_id"),
        Field("response_id"),
        Field("io"),
        CREATED,
        Field("type", default="message"),
        Field("role"),
        Field("status"),
        Field("content", default=[]),
        Field("attachments", default=[]),
        METADATA,
        Field("agent_id"),
        Field("run_id"),
        Field("completed_at"),
        Field("incomplete_at"),
        Field("incomplete_details"),
        Field("data", default={}),
    ),
    "runs": (
        ID,
        Field("kind", default="run"),
        Field("conversation_id"),
        Field("agent_id"),
        Field("status", default="completed"),
        Field("model", default=""),
        Field("instructions"),
        Field("tools", default=[]),
        Field("tool_resources", default={}),
        Field("params", default={}),
        METADATA,
        Field("required_action"),
        Field("last_error"),
        Field("incomplete_details"),
        Field("usage"),
        CREATED,
        Field("started_at"),
        Field("expires_at"),
        Field("cancelled_at"),
        Field("failed_at"),
        Field("completed_at"),
        Field("previous_response_id"),
    ),
    "run_steps": (
        ID,
        Field("run_id"),
        Field("conversation_id"),
        Field("agent_id"),
        Field("type", default="message_creation"),
        Field("status", default="completed"),
        Field("step_details", default={}),
        Field("last_error"),
        Field("usage"),
        METADATA,
        CREATED,
        Field("expired_at"),
        Field("cancelled_at"),
        Field("failed_at"),
        Field("completed_at"),
    ),
    # AgentCore Memory events; the bundle's ``namespace`` is the memory's ID.
    "memories": (
        ID,
        Field("memory_id", key="namespace", default=""),
        Field("actor_id", default=""),
        Field("session_id", default=""),
        CREATED,
        Field("content", default=[]),
        Field("raw", default={}),
    ),
}


def mapped(part: str) -> Callable[[Record], Row]:
    fields = MAPPED[part]

    def row(r: Record) -> Row:
        return {f.column: f.value(r) for f in fields}

    return row


def parsed_text_only(r: Record) -> bool:
    """Whether a file record holds only the platform's parsed text, not the file's bytes."""
    return not r.get("sha256") and bool(r.get("text_sha256"))


def filename(r: Record) -> str:
    """The stored file's name. A file kept only as parsed text is text: where its name says a
    structured format (``manual.pdf``), ``.txt`` is appended so it is read (and served) as the
    text it is, not handed to the PDF or DOCX parser."""
    name = r.get("filename") or r["id"]
    if parsed_text_only(r) and PurePath(name).suffix.lower() in STRUCTURED:
        return f"{name}.txt"
    return str(name)


def file(r: Record) -> Row:
    """The file row; ``sha256`` is filled in by the importer once the blob is stored."""
    return {
        "id": r["id"],
        "created_at": r.get("created_at") or 0,
        "filename": filename(r),
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


def _chunking(value: Any) -> dict[str, Any]:
    """A static strategy as given; anything else (absent, ``other`` for files older than
    chunking strategies, a platform's own) as the ``auto`` strategy homeport indexes with."""
    if isinstance(value, dict) and value.get("type") == "static" and "static" in value:
        return value
    return resolve_strategy(None)


def vector_store_file(r: Record) -> Row:
    return {
        "id": r["id"],
        "vector_store_id": r["vector_store_id"],
        "created_at": r.get("created_at") or 0,
        "attributes": _dict(r.get("attributes")),
        "chunking_strategy": _chunking(r.get("chunking_strategy")),
    }


# Part -> (table name, row function). Parts not here (tools) stay in the bundle.
TABLES: dict[str, tuple[str, Callable[[Record], Row]]] = {
    "agents": ("agents", mapped("agents")),
    "files": ("files", file),
    "vector_stores": ("vector_stores", vector_store),
    "vector_store_files": ("vector_store_files", vector_store_file),
    "conversations": ("conversations", mapped("conversations")),
    "items": ("items", mapped("items")),
    "runs": ("runs", mapped("runs")),
    "run_steps": ("run_steps", mapped("run_steps")),
    "memories": ("memory_events", mapped("memories")),
}
KEYS: dict[str, tuple[str, ...]] = {
    "vector_store_files": ("vector_store_id", "id"),
    "memories": ("memory_id", "actor_id", "session_id", "id"),
}
"""The unique key of a part's rows where it is more than ``id``."""
