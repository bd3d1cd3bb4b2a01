"""Assistants CRUD through the official SDK against a live homeport, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.support.servers import HomeportServer

FUNCTION_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}
JSON_SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
}

# OpenAI marks the Assistants API deprecated; the SDK warns on every call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
)


def test_create_retrieve_modify_delete(client: openai.OpenAI) -> None:
    upload = client.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="assistants")
    created = client.beta.assistants.create(
        model="gpt-4o",
        name="Math Tutor",
        description="Helps with sums.",
        instructions="You are a math tutor.",
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}, FUNCTION_TOOL],
        tool_resources={"code_interpreter": {"file_ids": [upload.id]}},
        metadata={"team": "math"},
        temperature=0.2,
        top_p=0.9,
        response_format=JSON_SCHEMA_FORMAT,
        reasoning_effort="low",
    )
    assert created.id.startswith("asst_")
    assert created.object == "assistant"
    assert created.tools[2].type == "function"
    assert created.tools[2].function.name == "get_weather"
    assert created.tool_resources is not None
    assert created.tool_resources.code_interpreter is not None
    assert created.tool_resources.code_interpreter.file_ids == [upload.id]
    assert created.metadata == {"team": "math"}
    assert (created.temperature, created.top_p) == (0.2, 0.9)
    assert created.response_format is not None
    assert created.response_format.type == "json_schema"  # type: ignore[union-attr]

    assert client.beta.assistants.retrieve(created.id) == created

    modified = client.beta.assistants.update(
        created.id, name="Algebra Tutor", metadata={"team": "algebra"}, tools=[], instructions=None
    )
    assert modified.name == "Algebra Tutor"
    assert modified.metadata == {"team": "algebra"}
    assert modified.tools == []
    assert modified.instructions is None
    assert modified.description == "Helps with sums."  # untouched fields stay
    assert client.beta.assistants.retrieve(created.id) == modified

    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "assistant.deleted")
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.retrieve(created.id)
    assert caught.value.body == {
        "message": f"No assistant found with id '{created.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_defaults_are_openai_defaults(client: openai.OpenAI) -> None:
    bare = client.beta.assistants.create(model="gpt-4o-mini")
    assert bare.name is None and bare.description is None and bare.instructions is None
    assert bare.tools == [] and bare.metadata == {}
    assert bare.response_format == "auto"
    assert (bare.temperature, bare.top_p) == (1.0, 1.0)


def test_vector_stores_helper_makes_a_store(client: openai.OpenAI) -> None:
    upload = client.files.create(file=("notes.txt", b"homeport keeps IDs."), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={
            "file_search": {"vector_stores": [{"file_ids": [upload.id], "metadata": {"k": "v"}}]}
        },
    )
    assert assistant.tool_resources is not None
    assert assistant.tool_resources.file_search is not None
    [store_id] = assistant.tool_resources.file_search.vector_store_ids or []
    assert client.vector_stores.retrieve(store_id).metadata == {"k": "v"}
    assert [f.id for f in client.vector_stores.files.list(store_id)] == [upload.id]


def test_unknown_code_interpreter_file_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.create(
            model="gpt-4o", tool_resources={"code_interpreter": {"file_ids": ["file_nope"]}}
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tool_resources.code_interpreter.file_ids[0]"
    assert caught.value.message.endswith("No such File object: file_nope")
    assistant = client.beta.assistants.create(model="gpt-4o")
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.update(
            assistant.id, tool_resources={"code_interpreter": {"file_ids": ["file_nope"]}}
        )
    assert client.beta.assistants.retrieve(assistant.id).tool_resources == assistant.tool_resources
    assert [a.id for a in client.beta.assistants.list()] == [assistant.id]


def test_unknown_vector_store_is_a_404_and_nothing_is_made(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="kb")
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.create(
            model="gpt-4o",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}},
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tool_resources.file_search.vector_store_ids[0]"
    assert caught.value.message.endswith("No vector store found with id 'vs_nope'.")
    assert list(client.beta.assistants.list()) == []
    assistant = client.beta.assistants.create(
        model="gpt-4o", tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.assistants.update(
            assistant.id, tool_resources={"file_search": {"vector_store_ids": ["vs_gone"]}}
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tool_resources.file_search.vector_store_ids[0]"
    assert client.beta.assistants.retrieve(assistant.id).tool_resources == assistant.tool_resources


def test_list_paginates_in_both_orders(client: openai.OpenAI) -> None:
    ids = [client.beta.assistants.create(model="gpt-4o", name=f"a{i}").id for i in range(5)]

    assert [a.id for a in client.beta.assistants.list(limit=2)] == ids[::-1]
    assert [a.id for a in client.beta.assistants.list(limit=2, order="asc")] == ids

    first = client.beta.assistants.list(limit=2, order="asc")
    assert [a.id for a in first.data] == ids[:2]
    assert first.has_more is True
    after = client.beta.assistants.list(limit=2, order="asc", after=ids[1])
    assert [a.id for a in after.data] == ids[2:4]
    before = client.beta.assistants.list(limit=2, order="asc", before=ids[4])
    assert [a.id for a in before.data] == ids[2:4]
    last = client.beta.assistants.list(limit=10, order="desc", after=ids[1])
    assert [a.id for a in last.data] == [ids[0]]
    assert last.has_more is False


def test_empty_list(client: openai.OpenAI) -> None:
    page = client.beta.assistants.list()
    assert page.data == [] and page.has_more is False


def _too_many(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"metadata": _too_many(17)}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"name": "n" * 257}, "name"),
        ({"description": "d" * 513}, "description"),
        ({"instructions": "i" * 256_001}, "instructions"),
        ({"tools": [{"type": "code_interpreter"}] * 129}, "tools"),
        ({"tools": [{"type": "browser"}]}, "tools[0]"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0]"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}}, "tool_resources"),
        ({"tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}}, "tool_resources"),
    ],
)
def test_invalid_create_is_a_400_naming_the_param(
    client: openai.OpenAI, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", extra_body=body)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error"
    assert str(error["param"]).startswith(param)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (
            {"temperature": 2.5},
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
            "but got 2.5 instead.",
            "decimal_above_max_value",
        ),
        (
            {"top_p": -1},
            "Invalid 'top_p': decimal below minimum value. Expected a value >= 0, "
            "but got -1 instead.",
            "decimal_below_min_value",
        ),
        (
            {"name": "n" * 257},
            "Invalid 'name': string too long. Expected a string with maximum length 256, "
            "but got a string with length 257 instead.",
            "string_above_max_length",
        ),
        (
            {"temperature": "hot"},
            "Invalid type for 'temperature': expected a decimal, but got a string instead.",
            "invalid_type",
        ),
        (
            {"tools": {"type": "function"}},
            "Invalid type for 'tools': expected an array, but got an object instead.",
            "invalid_type",
        ),
    ],
)
def test_invalid_values_are_worded_as_openai_words_them(
    client: openai.OpenAI, body: dict[str, Any], message: str, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", extra_body=body)
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["message"], error["code"]) == (message, code)


def test_missing_model_and_unknown_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/assistants", body={"name": "x"}, cast_to=object)
    assert caught.value.body == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "missing_required_parameter",
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model="gpt-4o", extra_body={"colour": "blue"})
    assert caught.value.message.endswith("Unknown parameter: 'colour'.")


def test_modify_validates_too(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="keep")
    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.update(assistant.id, name="n" * 257)
    assert client.beta.assistants.retrieve(assistant.id).name == "keep"
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.update("asst_missing", name="x")
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.delete("asst_missing")


def test_projects_are_isolated(client: openai.OpenAI, other_project: openai.OpenAI) -> None:
    mine = client.beta.assistants.create(model="gpt-4o")
    theirs = other_project.beta.assistants.create(model="gpt-4o")
    assert [a.id for a in client.beta.assistants.list()] == [mine.id]
    assert [a.id for a in other_project.beta.assistants.list()] == [theirs.id]
    for call in (
        lambda: other_project.beta.assistants.retrieve(mine.id),
        lambda: other_project.beta.assistants.update(mine.id, name="stolen"),
        lambda: other_project.beta.assistants.delete(mine.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert client.beta.assistants.retrieve(mine.id).name is None


def test_bad_key_is_401(homeport: HomeportServer) -> None:
    with homeport.client() as sdk:
        sdk.api_key = "hp-wrong"
        with pytest.raises(openai.AuthenticationError):
            sdk.beta.assistants.list()


def test_admin_keeps_original_ids(client: openai.OpenAI, admin: openai.OpenAI) -> None:
    headers = {"homeport-object-id": "asst_imported123", "homeport-created-at": "1700000000"}
    imported = admin.beta.assistants.create(model="gpt-4o", name="old", extra_headers=headers)
    assert (imported.id, imported.created_at) == ("asst_imported123", 1700000000)
    assert client.beta.assistants.retrieve("asst_imported123").name == "old"
    # Imported objects page by their original time: older than anything made now.
    newer = client.beta.assistants.create(model="gpt-4o")
    assert [a.id for a in client.beta.assistants.list(order="asc")] == [imported.id, newer.id]

    with pytest.raises(openai.ConflictError):
        admin.beta.assistants.create(model="gpt-4o", extra_headers=headers)
    with pytest.raises(openai.PermissionDeniedError):
        client.beta.assistants.create(model="gpt-4o", extra_headers=headers)
    with pytest.raises(openai.BadRequestError):
        admin.beta.assistants.create(
            model="gpt-4o", extra_headers={"homeport-created-at": "yesterday"}
        )
