"""One state model for both OpenAI protocols: a thread made through the Assistants API is
continued as a conversation through the Responses API, and the reverse, on SQLite and
PostgreSQL. Every JSON response is checked against OpenAI's spec."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from homeport.testing.scripted_model import ScriptedModelServer

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _sent(model: ScriptedModelServer, marker: str) -> list[tuple[str, Any]]:
    """(role, content) of the last model request whose last message contains ``marker``."""
    for request in reversed(model.model.requests):
        messages = request["body"].get("messages") or []
        if messages and marker in json.dumps(messages[-1]):
            return [(m["role"], m.get("content")) for m in messages]
    raise AssertionError(f"no model request ended with {marker!r}")


def _thread_texts(client: openai.OpenAI, thread_id: str) -> list[tuple[str, str]]:
    out = []
    for message in client.beta.threads.messages.list(thread_id, order="asc"):
        block = message.content[0]
        assert block.type == "text"
        out.append((message.role, block.text.value))
    return out


def _conversation_texts(client: openai.OpenAI, conversation_id: str) -> list[tuple[str, str]]:
    out = []
    for item in client.conversations.items.list(conversation_id, order="asc"):
        if item.type == "message":
            out.append((item.role, " ".join(getattr(p, "text", "") for p in item.content)))
    return out


def test_thread_continued_as_a_conversation(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    assistant = client.beta.assistants.create(model="scripted", instructions="Be brief.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "from assistants"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    # The thread reads as a conversation: same ID, same messages, Responses content parts.
    conversation = client.conversations.retrieve(thread.id)
    assert conversation.id == thread.id and conversation.created_at == thread.created_at
    items = client.conversations.items.list(thread.id, order="asc").data
    assert [(i.role, i.content[0].type) for i in items] == [  # type: ignore[union-attr]
        ("user", "input_text"),
        ("assistant", "output_text"),
    ]
    assert _conversation_texts(client, thread.id) == [
        ("user", "from assistants"),
        ("assistant", "Echo: from assistants"),
    ]
    # A response continues it with the whole thread as context.
    response = client.responses.create(
        model="scripted", conversation=thread.id, input="now from responses"
    )
    assert response.output_text == "Echo: now from responses"
    assert _sent(scripted_model, "now from responses") == [
        ("user", "from assistants"),
        ("assistant", "Echo: from assistants"),
        ("user", "now from responses"),
    ]
    # ... and the Assistants API sees the new turn as thread messages.
    assert _thread_texts(client, thread.id) == [
        ("user", "from assistants"),
        ("assistant", "Echo: from assistants"),
        ("user", "now from responses"),
        ("assistant", "Echo: now from responses"),
    ]
    # Back to the Assistants API for one more run on the same thread.
    client.beta.threads.messages.create(thread.id, role="user", content="assistants again")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert _sent(scripted_model, "assistants again")[1:] == [
        ("user", "from assistants"),
        ("assistant", "Echo: from assistants"),
        ("user", "now from responses"),
        ("assistant", "Echo: now from responses"),
        ("user", "assistants again"),
    ]


def test_conversation_continued_as_a_thread(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "from conversations"}]
    )
    client.responses.create(model="scripted", conversation=conversation.id, input="second turn")
    thread = client.beta.threads.retrieve(conversation.id)
    assert thread.id == conversation.id
    assert _thread_texts(client, conversation.id) == [
        ("user", "from conversations"),
        ("user", "second turn"),
        ("assistant", "Echo: second turn"),
    ]
    assistant = client.beta.assistants.create(model="scripted")
    client.beta.threads.messages.create(conversation.id, role="user", content="thread turn")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=conversation.id, assistant_id=assistant.id
    )
    assert run.status == "completed"
    assert _sent(scripted_model, "thread turn") == [
        ("user", "from conversations"),
        ("user", "second turn"),
        ("assistant", "Echo: second turn"),
        ("user", "thread turn"),
    ]
    assert _conversation_texts(client, conversation.id)[-1] == ("assistant", "Echo: thread turn")


def test_assistants_tool_calls_read_as_conversation_items(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="scripted", tools=[WEATHER])  # type: ignore[list-item]
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": '[[call get_weather {"city": "Oslo"}]]'}]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action" and run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
    )
    assert run.status == "completed"
    items = client.conversations.items.list(thread.id, order="asc").data
    kinds = [i.type for i in items]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    function_call = items[1]
    assert function_call.call_id == call.id and function_call.name == "get_weather"  # type: ignore[union-attr]
    assert items[2].output == "sunny"  # type: ignore[union-attr]
    # The Responses API continues after the tool round with the calls in context.
    response = client.responses.create(model="scripted", conversation=thread.id, input="more")
    assert response.output_text == "Echo: more"
