"""Items as the Responses and Conversations APIs see them: input item requests and renderers.

Input items (``input`` of a response, ``items`` of a conversation) are validated here and turned
into ``items`` rows (``stored_item``). Rows are rendered (``render_item``) whichever protocol
wrote them: thread messages keep Assistants content parts (``text`` with ``value``), which are
shown here in the Responses form (``input_text`` / ``output_text``).

Item ``data`` follows the conventions of ``homeport.engine.context`` so the model sees the same
context whichever API wrote an item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

from homeport.api.validation import describe
from homeport.errors import InvalidRequest
from homeport.store.models import Item

MAX_TEXT = 10_485_760
Detail = Literal["auto", "low", "high", "original"]


class ItemModel(BaseModel):
    """An input item or content part. Fields the SDK adds to output items handed back as input
    (``phase``, ``created_by``, ``parsed`` …) are ignored rather than refused."""

    model_config = ConfigDict(extra="ignore")


class InputText(ItemModel):
    type: Literal["input_text"]
    text: Annotated[str, Field(max_length=MAX_TEXT)]


class InputImage(ItemModel):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Detail = "auto"


class InputFile(ItemModel):
    type: Literal["input_file"]
    file_id: str | None = None
    filename: str | None = None
    file_data: str | None = None
    file_url: str | None = None


class OutputText(ItemModel):
    type: Literal["output_text"]
    text: Annotated[str, Field(max_length=MAX_TEXT)]
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[dict[str, Any]] = Field(default_factory=list)


class Refusal(ItemModel):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[
    InputText | InputImage | InputFile | OutputText | Refusal, Field(discriminator="type")
]
InputPart = Annotated[InputText | InputImage | InputFile, Field(discriminator="type")]


class MessageInput(ItemModel):
    type: Literal["message"] = "message"
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: Annotated[str, Field(max_length=MAX_TEXT)] | list[ContentPart]
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallInput(ItemModel):
    type: Literal["function_call"]
    id: str | None = None
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=128)]
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutputInput(ItemModel):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    output: Annotated[str, Field(max_length=MAX_TEXT)] | list[InputPart]
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FileSearchCallInput(ItemModel):
    type: Literal["file_search_call"]
    id: str
    status: Literal["in_progress", "searching", "completed", "incomplete", "failed"] = "completed"
    queries: list[str] = Field(default_factory=list)
    results: list[dict[str, Any]] | None = None


class SummaryText(ItemModel):
    type: Literal["summary_text"]
    text: str


class ReasoningText(ItemModel):
    type: Literal["reasoning_text"]
    text: str


class ReasoningInput(ItemModel):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[SummaryText] = Field(default_factory=list)
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class ItemReference(ItemModel):
    type: Literal["item_reference"] | None = "item_reference"
    id: str


def _item_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is None:
            return "message" if "role" in value else "item_reference"
        return kind if isinstance(kind, str) else None
    return getattr(value, "type", None)


InputItem = Annotated[
    Annotated[MessageInput, Tag("message")]
    | Annotated[FunctionCallInput, Tag("function_call")]
    | Annotated[FunctionCallOutputInput, Tag("function_call_output")]
    | Annotated[FileSearchCallInput, Tag("file_search_call")]
    | Annotated[ReasoningInput, Tag("reasoning")]
    | Annotated[ItemReference, Tag("item_reference")],
    Discriminator(_item_kind),
]
"""One input item; a ``type`` homeport does not handle is refused naming the type."""

_ITEMS: TypeAdapter[list[Any]] = TypeAdapter(list[InputItem])
_TAGS = frozenset(
    {"message", "function_call", "function_call_output", "file_search_call", "reasoning",
     "item_reference", "input_text", "input_image", "input_file", "output_text", "refusal",
     "summary_text", "reasoning_text"}
)  # fmt: skip


def _param(prefix: str, loc: Sequence[Any]) -> str:
    """A pydantic error location as an OpenAI ``param`` (``input[0].content``), leaving out
    the names pydantic gives union members."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _TAGS and "[" not in part and "-" not in part:
            out += f".{part}"
    return out


def parse_items(value: list[Any], *, param: str, limit: int) -> list[BaseModel]:
    """Validate a list of input items; the error names the most specific bad field."""
    if len(value) > limit:
        raise InvalidRequest(
            f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
            f"but got an array with length {len(value)} instead.",
            param=param,
            code="array_above_max_length",
        )
    try:
        return _ITEMS.validate_python(value)
    except ValidationError as exc:
        worst = max(exc.errors(), key=lambda e: len(e["loc"]))
        where = _param(param, worst["loc"])
        if worst["type"] == "union_tag_invalid":
            where += ".type"
        message, code = describe(dict(worst), where)
        raise InvalidRequest(message, param=where, code=code) from None


# Input -> stored rows ---------------------------------------------------------------------


def _dump(part: BaseModel) -> dict[str, Any]:
    return part.model_dump(exclude_none=True)


def output_text(text: str, annotations: Sequence[Any] = ()) -> dict[str, Any]:
    """A Responses ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": list(annotations), "logprobs": []}


def _message_content(message: MessageInput) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        if message.role == "assistant":
            return [output_text(message.content)]
        return [{"type": "input_text", "text": message.content}]
    return [_dump(part) for part in message.content]


def stored_item(item: BaseModel) -> dict[str, Any]:
    """An input item as ``items`` column values (type, role, status, content, data). An
    ``item_reference`` must be resolved first (``resolve_references``)."""
    data: dict[str, Any]
    if isinstance(item, MessageInput):
        return {
            "type": "message",
            "role": item.role,
            "status": item.status or "completed",
            "content": _message_content(item),
            "data": {},
        }
    if isinstance(item, FunctionCallInput):
        data = {"call_id": item.call_id, "name": item.name, "arguments": item.arguments}
        return {"type": "function_call", "status": item.status or "completed", "data": data}
    if isinstance(item, FunctionCallOutputInput):
        output = item.output if isinstance(item.output, str) else [_dump(p) for p in item.output]
        data = {"call_id": item.call_id, "output": output}
        return {"type": "function_call_output", "status": item.status or "completed", "data": data}
    if isinstance(item, FileSearchCallInput):
        data = {
            "call_id": item.id,
            "name": "file_search",
            "queries": item.queries,
            "results": item.results,
        }
        return {"type": "file_search_call", "status": item.status, "data": data}
    if isinstance(item, ReasoningInput):
        data = {"summary": [_dump(s) for s in item.summary]}
        if item.encrypted_content is not None:
            data["encrypted_content"] = item.encrypted_content
        content = [_dump(c) for c in item.content or ()]
        return {"type": "reasoning", "status": item.status, "content": content, "data": data}
    raise InvalidRequest(f"Item type {getattr(item, 'type', None)!r} cannot be stored.")


def copied_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields of an existing item, for an ``item_reference`` to it."""
    return {key: row[key] for key in ("type", "role", "status", "content", "data")}


# Stored rows -> wire ----------------------------------------------------------------------

ItemRow = Mapping[str, Any]
"""An ``items`` row as a mapping of column names (``metadata`` for the metadata column)."""

_ATTRIBUTES = [(attr.columns[0].name, attr.key) for attr in Item.__mapper__.column_attrs]


def item_row(item: Item) -> dict[str, Any]:
    """An ORM ``Item`` as the column mapping renderers take."""
    return {name: getattr(item, key) for name, key in _ATTRIBUTES}


def _annotation(note: Mapping[str, Any]) -> dict[str, Any] | None:
    """An annotation in the Responses form (Assistants citations are converted)."""
    kind = note.get("type")
    if kind == "file_citation" and isinstance(note.get("file_citation"), Mapping):
        return {
            "type": "file_citation",
            "file_id": note["file_citation"].get("file_id", ""),
            "filename": note.get("filename") or note["file_citation"].get("filename", ""),
            "index": note.get("end_index", 0),
        }
    if kind == "file_path" and isinstance(note.get("file_path"), Mapping):
        return {
            "type": "file_path",
            "file_id": note["file_path"].get("file_id", ""),
            "index": note.get("end_index", 0),
        }
    if kind in ("file_citation", "file_path", "url_citation", "container_file_citation"):
        return dict(note)
    return None


def render_annotations(notes: Sequence[Any]) -> list[dict[str, Any]]:
    """Annotations in the Responses form; kinds it has no form for are left out."""
    out = (_annotation(n) for n in notes if isinstance(n, Mapping))
    return [n for n in out if n is not None]


def render_part(part: Any, role: str | None) -> dict[str, Any] | None:
    """One stored content part in the Responses form (None when it has none)."""
    if isinstance(part, str):
        part = {"type": "text", "text": {"value": part, "annotations": []}}
    if not isinstance(part, Mapping):
        return None
    kind = part.get("type")
    if kind == "output_text":
        return output_text(part.get("text", ""), render_annotations(part.get("annotations", ())))
    if kind in ("input_text", "refusal", "input_file", "summary_text", "reasoning_text"):
        return dict(part)
    if kind == "input_image":
        return {
            "type": "input_image",
            "image_url": part.get("image_url"),
            "file_id": part.get("file_id"),
            "detail": part.get("detail", "auto"),
        }
    if kind == "text":
        text = part.get("text")
        value = text.get("value", "") if isinstance(text, Mapping) else str(text or "")
        if role == "assistant":
            notes = text.get("annotations", ()) if isinstance(text, Mapping) else ()
            return output_text(value, render_annotations(notes))
        return {"type": "input_text", "text": value}
    if kind == "image_file":
        image = part.get("image_file") or {}
        return {
            "type": "input_image",
            "file_id": image.get("file_id"),
            "image_url": None,
            "detail": image.get("detail") or "auto",
        }
    if kind == "image_url":
        image = part.get("image_url") or {}
        return {
            "type": "input_image",
            "image_url": image.get("url"),
            "file_id": None,
            "detail": image.get("detail") or "auto",
        }
    return None


def render_content(content: Sequence[Any], role: str | None) -> list[dict[str, Any]]:
    out = (render_part(part, role) for part in content)
    return [part for part in out if part is not None]


def render_item(row: ItemRow, include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An item as the spec's ``ConversationItem`` / ``ItemResource`` / ``OutputItem``.
    ``include`` takes the ``IncludeEnum`` values (``file_search_call.results``)."""
    kind = row["type"]
    data = row.get("data") or {}
    status = row.get("status") or "completed"
    if kind == "message":
        role = row.get("role") or "user"
        return {
            "id": row["id"],
            "type": "message",
            "status": status,
            "role": role,
            "content": render_content(row.get("content") or (), role),
        }
    if kind == "function_call":
        return {
            "id": row["id"],
            "type": "function_call",
            "status": status,
            "call_id": data.get("call_id", ""),
            "name": data.get("name", ""),
            "arguments": data.get("arguments", ""),
        }
    if kind == "function_call_output":
        return {
            "id": row["id"],
            "type": "function_call_output",
            "status": status,
            "call_id": data.get("call_id", ""),
            "output": data.get("output", ""),
        }
    if kind == "file_search_call":
        wanted = "file_search_call.results" in include and data.get("results") is not None
        results = file_search_results(data) if wanted else None
        return {
            "id": row["id"],
            "type": "file_search_call",
            "status": status,
            "queries": data.get("queries", []),
            "results": results,
        }
    if kind == "reasoning":
        out: dict[str, Any] = {
            "id": row["id"],
            "type": "reasoning",
            "summary": data.get("summary", []),
            "status": status,
        }
        if row.get("content"):
            out["content"] = list(row["content"])
        if "reasoning.encrypted_content" in include:
            out["encrypted_content"] = data.get("encrypted_content")
        return out
    raise InvalidRequest(f"Item '{row['id']}' has type '{kind}', which this API cannot show.")


def file_search_results(details: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``results`` of a file_search call as Responses entries (``file_id``, ``filename``,
    ``score``, ``text``, ``attributes``). The tool's details (and Assistants run steps) hold
    them as ``file_id``, ``file_name``, ``score`` and ``content`` parts; both forms are read."""
    results = []
    for hit in details.get("results") or ():
        if "content" not in hit:
            results.append(dict(hit))
            continue
        parts = hit.get("content") or ()
        text = "\n".join(p.get("text", "") for p in parts if isinstance(p, Mapping))
        results.append(
            {
                "file_id": hit.get("file_id", ""),
                "filename": hit.get("file_name") or hit.get("filename", ""),
                "score": hit.get("score", 0.0),
                "text": text,
                "attributes": hit.get("attributes") or {},
            }
        )
    return results


INCLUDE_VALUES = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)


def include_param(request: Request) -> frozenset[str]:
    """The ``include`` query parameter (``include=a&include=b`` or the SDK's ``include[]=a``)."""
    query = request.query_params
    values = frozenset([*query.getlist("include"), *query.getlist("include[]")])
    for value in values:
        if value not in INCLUDE_VALUES:
            raise InvalidRequest(
                f"Invalid value for 'include': '{value}'. Supported values are: "
                + ", ".join(sorted(INCLUDE_VALUES))
                + ".",
                param="include",
            )
    return values


IncludeDep = Annotated[frozenset[str], Depends(include_param)]
