"""Pieces shared by the Assistants surfaces (assistants, threads, messages, runs): metadata,
tools, tool resources, response formats, attachments, and the deleted-object reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from homeport.errors import InvalidRequest

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_TOOLS = 128


class WireModel(BaseModel):
    """A request object: unknown fields are rejected, as OpenAI does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > MAX_METADATA_PAIRS:
        raise PydanticCustomError(
            "metadata_size",
            "too many properties. Expected an object with at most {limit} properties, "
            "but got an object with {count} properties instead.",
            {"limit": MAX_METADATA_PAIRS, "count": len(value)},
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise PydanticCustomError(
                "metadata_key",
                "key '{key}' is too long. Expected a key with maximum length {limit}.",
                {"key": key[:MAX_METADATA_KEY] + "…", "limit": MAX_METADATA_KEY},
            )
        if len(item) > MAX_METADATA_VALUE:
            raise PydanticCustomError(
                "metadata_value",
                "value of '{key}' is too long. Expected a string with maximum length {limit}, "
                "but got a string with length {length} instead.",
                {"key": key, "limit": MAX_METADATA_VALUE, "length": len(item)},
            )
    return value


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]
"""Up to 16 string pairs; keys up to 64 characters, values up to 512."""

MAX_JSON_INT = 2**63 - 1


def _check_json(value: Any) -> Any:
    """Free-form JSON (function parameters, JSON schemas) must survive storage and rendering."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_JSON_INT:
            raise PydanticCustomError("json_int", "integers must fit in 64 bits.")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json)]
"""A free-form JSON object."""

Name64 = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
"""Function and JSON schema names: a-z, A-Z, 0-9, underscores and dashes, at most 64."""


# Tools -------------------------------------------------------------------------------------


class CodeInterpreterTool(WireModel):
    type: Literal["code_interpreter"]


class RankingOptions(WireModel):
    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)]


class FileSearchSettings(WireModel):
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: RankingOptions | None = None


class FileSearchTool(WireModel):
    type: Literal["file_search"]
    file_search: FileSearchSettings | None = None


class FunctionDefinition(WireModel):
    name: Name64
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None


class FunctionTool(WireModel):
    type: Literal["function"]
    function: FunctionDefinition


AssistantTool = Annotated[
    CodeInterpreterTool | FileSearchTool | FunctionTool, Field(discriminator="type")
]
Tools = Annotated[list[AssistantTool], Field(max_length=MAX_TOOLS)]


def stored_tools(tools: list[CodeInterpreterTool | FileSearchTool | FunctionTool]) -> list[Any]:
    return [tool.model_dump(exclude_none=True) for tool in tools]


# Response format ---------------------------------------------------------------------------


class TextFormat(WireModel):
    type: Literal["text"]


class JsonObjectFormat(WireModel):
    type: Literal["json_object"]


class JsonSchemaSpec(WireModel):
    name: Name64
    description: str | None = None
    schema_: JsonObject | None = Field(default=None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(WireModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = (
    Literal["auto"]
    | Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]
    | None
)


def stored_response_format(value: Any) -> Any:
    """``"auto"``, ``None`` or the format object as the client sent it."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True, by_alias=True)
    return value


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None
Temperature = Annotated[float, Field(ge=0, le=2)] | None
TopP = Annotated[float, Field(ge=0, le=1)] | None


# Tool resources ----------------------------------------------------------------------------


class CodeInterpreterResources(WireModel):
    file_ids: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)


class FileSearchResources(WireModel):
    vector_store_ids: Annotated[list[str], Field(max_length=1)] | None = None


class AutoChunking(WireModel):
    type: Literal["auto"]


class StaticChunkingSettings(WireModel):
    max_chunk_size_tokens: Annotated[int, Field(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _overlap(self) -> StaticChunkingSettings:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise PydanticCustomError(
                "chunk_overlap",
                "chunk_overlap_tokens must not exceed half of max_chunk_size_tokens.",
            )
        return self


class StaticChunking(WireModel):
    type: Literal["static"]
    static: StaticChunkingSettings


ChunkingStrategy = Annotated[AutoChunking | StaticChunking, Field(discriminator="type")]


class NewVectorStore(WireModel):
    """The ``vector_stores`` helper: make a vector store from files and attach it."""

    file_ids: list[str] = Field(default_factory=list)
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class FileSearchResourcesCreate(FileSearchResources):
    vector_stores: Annotated[list[NewVectorStore], Field(max_length=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FileSearchResourcesCreate:
        if self.vector_store_ids and self.vector_stores:
            raise PydanticCustomError(
                "vector_store_source",
                "give either vector_store_ids or vector_stores, not both.",
            )
        return self


class ToolResources(WireModel):
    """Tool resources of a modify request (IDs only)."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class ToolResourcesCreate(WireModel):
    """Tool resources of a create request: ``file_search`` may also make a vector store."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResourcesCreate | None = None


VectorStoreMaker = Callable[[NewVectorStore], str]
"""Makes a vector store from the ``vector_stores`` helper and returns its ID."""


def stored_tool_resources(
    resources: ToolResources | ToolResourcesCreate | None,
    *,
    make_vector_store: VectorStoreMaker | None = None,
) -> dict[str, Any]:
    """Tool resources in their stored (and rendered) form: IDs only."""
    if resources is None:
        return {}
    out: dict[str, Any] = {}
    if resources.code_interpreter is not None:
        out["code_interpreter"] = {"file_ids": list(resources.code_interpreter.file_ids)}
    search = resources.file_search
    if search is not None:
        ids = list(search.vector_store_ids or ())
        helpers = search.vector_stores if isinstance(search, FileSearchResourcesCreate) else None
        if helpers:
            if make_vector_store is None:
                raise InvalidRequest(
                    "The vector_stores helper is not accepted here: pass vector_store_ids.",
                    param="tool_resources.file_search.vector_stores",
                )
            ids.extend(make_vector_store(helper) for helper in helpers)
        out["file_search"] = {"vector_store_ids": ids}
    return out


# Message attachments -----------------------------------------------------------------------


class FileSearchTypeOnly(WireModel):
    type: Literal["file_search"]


class Attachment(WireModel):
    file_id: str
    tools: list[
        Annotated[CodeInterpreterTool | FileSearchTypeOnly, Field(discriminator="type")]
    ] = Field(default_factory=list)


# Replies -----------------------------------------------------------------------------------


def render_deleted(object_id: str, object_type: str) -> dict[str, Any]:
    """``{"id", "object": "<object_type>.deleted", "deleted": true}``."""
    return {"id": object_id, "object": f"{object_type}.deleted", "deleted": True}
