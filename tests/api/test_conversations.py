"""The Conversations API (and responses that use a conversation) through the official SDK
against a live homeport, on SQLite and PostgreSQL; every JSON response is checked against
OpenAI's spec."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from homeport.testing.scripted_model import ScriptedModelServer

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _texts(client: openai.OpenAI, conversation_id: str) -> list[tuple[str, str, str]]:
    """(type, role, text) of every item, oldest first (function items: name or output)."""
    out = []
    for item in client.conversations.items.list(conversation_id, order="asc"):
        if item.type == "message":
            text = " ".join(getattr(part, "text", "") for part in item.content)
            out.append((item.type, item.role, text))
        elif item.type == "function_call":
            out.append((item.type, "", item.name))
        elif item.type == "function_call_output":
            out.append((item.type, "", str(item.output)))
    return out


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        metadata={"topic": "demo"},
        items=[
            {"type": "message", "role": "user", "content": "hello"},
            {"type": "message", "role": "assistant", "content": "hi"},
        ],
    )
    assert conversation.id.startswith("conv_")
    assert conversation.metadata == {"topic": "demo"}
    assert client.conversations.retrieve(conversation.id).created_at == conversation.created_at
    updated = client.conversations.update(conversation.id, metadata={"topic": "other"})
    assert updated.metadata == {"topic": "other"}
    assert _texts(client, conversation.id) == [
        ("message", "user", "hello"),
        ("message", "assistant", "hi"),
    ]
    deleted = client.conversations.delete(conversation.id)
    assert deleted.deleted is True and deleted.id == conversation.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation.id)


def test_items_create_list_retrieve_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    added = client.conversations.items.create(
        conversation.id,
        items=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"m{i}"}],
            }
            for i in range(20)
        ],
    )
    assert len(added.data) == 20 and added.has_more is False
    assert added.first_id == added.data[0].id and added.last_id == added.data[-1].id
    first = client.conversations.items.list(conversation.id, limit=5, order="asc")
    assert [i.content[0].text for i in first.data] == ["m0", "m1", "m2", "m3", "m4"]  # type: ignore[union-attr]
    assert first.has_more is True
    after = client.conversations.items.list(
        conversation.id, limit=3, order="asc", after=first.data[-1].id
    )
    assert [i.content[0].text for i in after.data] == ["m5", "m6", "m7"]  # type: ignore[union-attr]
    newest = client.conversations.items.list(conversation.id, limit=1)
    assert newest.data[0].content[0].text == "m19"  # type: ignore[union-attr]
    one = client.conversations.items.retrieve(added.data[3].id, conversation_id=conversation.id)
    assert one.id == added.data[3].id and one.type == "message"
    remaining = client.conversations.items.delete(added.data[3].id, conversation_id=conversation.id)
    assert remaining.id == conversation.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[3].id, conversation_id=conversation.id)
    assert len(list(client.conversations.items.list(conversation.id))) == 19


def test_every_item_type(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=[
            {"role": "user", "content": "weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Oslo"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}]},
            {
                "type": "file_search_call",
                "id": "fs_given",
                "queries": ["q"],
                "status": "completed",
                "results": [{"file_id": "file_1", "filename": "a.txt", "score": 0.5, "text": "t"}],
            },
        ],
    )
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [i.type for i in items] == [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "file_search_call",
    ]
    assert items[1].id.startswith("fc_") and items[1].call_id == "call_1"  # type: ignore[union-attr]
    assert items[2].output == "sunny"  # type: ignore[union-attr]
    assert items[4].results is None  # type: ignore[union-attr]
    with_results = client.conversations.items.list(
        conversation.id, order="asc", include=["file_search_call.results"]
    ).data
    assert with_results[4].results[0].file_id == "file_1"  # type: ignore[union-attr]
    one = client.conversations.items.retrieve(
        items[4].id, conversation_id=conversation.id, include=["file_search_call.results"]
    )
    assert one.results is not None  # type: ignore[union-attr]


def test_item_reference_copies_an_item(client: openai.OpenAI) -> None:
    source = client.conversations.create(items=[{"role": "user", "content": "original"}])
    original = client.conversations.items.list(source.id).data[0]
    target = client.conversations.create(items=[{"type": "item_reference", "id": original.id}])
    copied = client.conversations.items.list(target.id).data[0]
    assert copied.id != original.id
    assert copied.content[0].text == "original"  # type: ignore[union-attr]


def test_responses_append_to_the_conversation(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    conversation = client.conversations.create(items=[{"role": "user", "content": "earlier"}])
    first = client.responses.create(
        model="scripted", conversation=conversation.id, input="conversation marker"
    )
    assert first.conversation is not None and first.conversation.id == conversation.id
    assert first.output_text == "Echo: conversation marker"
    sent = next(
        r["body"]["messages"]
        for r in reversed(scripted_model.model.requests)
        if "conversation marker" in json.dumps(r["body"].get("messages"))
    )
    assert [m["content"] for m in sent] == ["earlier", "conversation marker"]
    client.responses.create(
        model="scripted",
        conversation={"id": conversation.id},
        tools=[WEATHER],
        input='[[call get_weather {"city": "Oslo"}]]',
    )
    calls = [
        i for i in client.conversations.items.list(conversation.id) if i.type == "function_call"
    ]
    client.responses.create(
        model="scripted",
        conversation=conversation.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],  # type: ignore[union-attr]
    )
    assert _texts(client, conversation.id) == [
        ("message", "user", "earlier"),
        ("message", "user", "conversation marker"),
        ("message", "assistant", "Echo: conversation marker"),
        ("message", "user", '[[call get_weather {"city": "Oslo"}]]'),
        ("function_call", "", "get_weather"),
        ("function_call_output", "", "sunny"),
        ("message", "assistant", "Tool results: get_weather=sunny"),
    ]


def test_streamed_response_in_a_conversation(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    with client.responses.stream(
        model="scripted", conversation=conversation.id, input="streamed turn"
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Echo: streamed turn"
    assert _texts(client, conversation.id)[-1] == ("message", "assistant", "Echo: streamed turn")


def test_bad_requests(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    too_many = [{"role": "user", "content": "x"}] * 21
    with pytest.raises(openai.BadRequestError) as error:
        client.conversations.items.create(conversation.id, items=too_many)  # type: ignore[arg-type]
    assert error.value.param == "items"
    with pytest.raises(openai.BadRequestError):
        client.conversations.create(items=too_many)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as error:
        client.conversations.items.create(conversation.id, items=[{"role": "user"}])  # type: ignore[list-item]
    assert error.value.param == "items[0].content"
    with pytest.raises(openai.BadRequestError) as error:
        client.conversations.create(metadata={f"k{i}": "v" for i in range(17)})
    with pytest.raises(openai.BadRequestError):
        client.conversations.items.list(conversation.id, include=["nope"])  # type: ignore[list-item]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve("msg_nope", conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.update("conv_nope", metadata={})
    with pytest.raises(openai.NotFoundError):
        client.conversations.delete("conv_nope")


def test_original_ids_through_the_admin_header(admin: openai.OpenAI, client: openai.OpenAI) -> None:
    made = admin.conversations.create(
        extra_headers={"homeport-object-id": "conv_imported1", "homeport-created-at": "1700000000"}
    )
    assert (made.id, made.created_at) == ("conv_imported1", 1700000000)
    with pytest.raises(openai.PermissionDeniedError):
        client.conversations.create(extra_headers={"homeport-object-id": "conv_x"})


def test_conversations_are_isolated_per_project(
    client: openai.OpenAI, other_project: openai.OpenAI
) -> None:
    conversation = client.conversations.create(items=[{"role": "user", "content": "mine"}])
    with pytest.raises(openai.NotFoundError):
        other_project.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        other_project.responses.create(model="scripted", input="x", conversation=conversation.id)
