"""Reading the object an answer created: its ID, creation time and thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# Collections whose POST creates an object with a new ID.
CREATING_COLLECTIONS = frozenset(
    {
        "threads",
        "conversations",
        "responses",
        "messages",
        "runs",
        "assistants",
        "files",
        "vector_stores",
    }
)


@dataclass(frozen=True, slots=True)
class Created:
    id: str
    created_at: int | None
    thread_id: str | None


def _from_document(doc: Any) -> Created | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("response"), dict):  # Responses stream events wrap the response
        doc = doc["response"]
    found = doc.get("id")
    if not isinstance(found, str):
        return None
    created = doc.get("created_at", doc.get("created"))
    thread = doc.get("thread_id")
    return Created(
        found,
        created if isinstance(created, int) else None,
        thread if isinstance(thread, str) else None,
    )


def created_object(body: bytes, streamed: bool) -> Created | None:
    """The first object in a JSON answer or an SSE stream (complete ``data:`` lines only)."""
    try:
        if not streamed:
            return _from_document(orjson.loads(body)) if body else None
        for line in body.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
                found = _from_document(orjson.loads(line[5:]))
                if found is not None:
                    return found
    except orjson.JSONDecodeError:
        return None
    return None


def creates_object(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").rsplit("/", 1)[-1] in CREATING_COLLECTIONS
