"""Thread messages: create and modify requests, and the message object.

A message is stored as an item of type ``message``. Its content parts are kept in the
Assistants form; items written through the Responses API (``input_text``, ``output_text``,
``input_image``) are shown in the Assistants form when read as thread messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from homeport.api.wire.common import Attachment, Metadata, WireModel
from homeport.store.models import Item

Detail = Literal["auto", "low", "high"]


class TextPart(WireModel):
    type: Literal["text"]
    text: str


class ImageFile(WireModel):
    file_id: Annotated[str, Field(min_length=1)]
    detail: Detail | None = None


class ImageFilePart(WireModel):
    type: Literal["image_file"]
    image_file: ImageFile


class ImageUrl(WireModel):
    url: Annotated[str, StringConstraints(pattern=r"^(https?://|data:image/)")]
    detail: Detail | None = None


class ImageUrlPart(WireModel):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImageFilePart | ImageUrlPart, Field(discriminator="type")]


class CreateMessageRequest(WireModel):
    role: Literal["user", "assistant"]
    content: str | Annotated[list[ContentPart], Field(min_length=1)]
    attachments: list[Attachment] | None = None
    metadata: Metadata = None

    def content_parts(self) -> list[dict[str, Any]]:
        """The content in its stored (and rendered) form."""
        if isinstance(self.content, str):
            return [text_part(self.content)]
        parts: list[dict[str, Any]] = []
        for part in self.content:
            if isinstance(part, TextPart):
                parts.append(text_part(part.text))
            else:
                parts.append(part.model_dump(exclude_none=True))
        return parts

    def stored_attachments(self) -> list[dict[str, Any]]:
        return [a.model_dump(exclude_none=True) for a in self.attachments or ()]


class ModifyMessageRequest(WireModel):
    metadata: Metadata = None


def text_part(value: str, annotations: list[Any] | None = None) -> dict[str, Any]:
    """An Assistants ``text`` content part."""
    return {"type": "text", "text": {"value": value, "annotations": annotations or []}}


def _citation(annotation: dict[str, Any]) -> dict[str, Any] | None:
    """A Responses annotation in the Assistants form (only file citations have one)."""
    if "file_citation" in annotation or "file_path" in annotation:
        return annotation
    if annotation.get("type") != "file_citation":
        return None
    index = annotation.get("index", 0)
    return {
        "type": "file_citation",
        "text": annotation.get("text", ""),
        "file_citation": {"file_id": annotation.get("file_id", "")},
        "start_index": index,
        "end_index": index,
    }


def _assistants_part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind in ("text", "image_file", "image_url", "refusal"):
        return part
    if kind in ("input_text", "output_text"):
        notes = (_citation(a) for a in part.get("annotations", ()))
        return text_part(part.get("text", ""), [a for a in notes if a is not None])
    if kind == "input_image":
        detail = part.get("detail", "auto")
        if part.get("file_id"):
            return {
                "type": "image_file",
                "image_file": {"file_id": part["file_id"], "detail": detail},
            }
        if part.get("image_url"):
            return {"type": "image_url", "image_url": {"url": part["image_url"], "detail": detail}}
    return None


def render_content(parts: list[Any]) -> list[dict[str, Any]]:
    """Stored content parts as Assistants message content (parts with no Assistants form, such
    as input files, are left out)."""
    out = (_assistants_part(p) for p in parts)
    return [p for p in out if p is not None]


def render_message(item: Item) -> dict[str, Any]:
    """The spec's MessageObject (``thread.message``)."""
    return {
        "id": item.id,
        "object": "thread.message",
        "created_at": item.created_at,
        "thread_id": item.conversation_id,
        "status": item.status or "completed",
        "incomplete_details": item.incomplete_details,
        "completed_at": item.completed_at,
        "incomplete_at": item.incomplete_at,
        "role": item.role,
        "content": render_content(item.content),
        "assistant_id": item.agent_id,
        "run_id": item.run_id,
        "attachments": item.attachments,
        "metadata": item.metadata_,
    }
