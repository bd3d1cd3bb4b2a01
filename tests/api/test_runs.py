"""Runs and run steps through the official SDK against a live homeport, on SQLite and PostgreSQL.

Every JSON response is validated against OpenAI's spec (the ``client`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from tests.support.spec import validate

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}


def _assistant(client: openai.OpenAI, **kwargs: Any) -> str:
    kwargs.setdefault("model", "scripted")
    return client.beta.assistants.create(**kwargs).id


def _thread(client: openai.OpenAI, text: str) -> str:
    return client.beta.threads.create(messages=[{"role": "user", "content": text}]).id


def _texts(client: openai.OpenAI, thread_id: str) -> list[tuple[str, str]]:
    page = client.beta.threads.messages.list(thread_id, order="asc")
    out = []
    for message in page.data:
        block = message.content[0]
        assert block.type == "text"
        out.append((message.role, block.text.value))
    return out


def test_create_and_poll_completes(client: openai.OpenAI) -> None:
    assistant = _assistant(client, instructions="Be brief.")
    thread = _thread(client, "hello there")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "completed"
    assert run.instructions == "Be brief."
    assert run.usage is not None and run.usage.total_tokens > 0
    assert run.started_at is not None and run.completed_at is not None
    assert _texts(client, thread) == [("user", "hello there"), ("assistant", "Echo: hello there")]
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].status == "completed" and steps[0].usage is not None
    messages = client.beta.threads.messages.list(thread, run_id=run.id).data
    assert steps[0].step_details.message_creation.message_id == messages[0].id  # type: ignore[union-attr]


def test_function_tool_round_trip(client: openai.OpenAI) -> None:
    assistant = _assistant(client, tools=[WEATHER])
    thread = _thread(client, 'weather? [[call get_weather {"city": "Oslo"}]]')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "requires_action"
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"})
    ]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread, tool_outputs=[{"tool_call_id": calls[0].id, "output": "sunny"}]
    )
    assert run.status == "completed", run.last_error
    assert run.required_action is None
    assert _texts(client, thread)[-1] == ("assistant", "Tool results: get_weather=sunny")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    tool_call = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert tool_call.type == "function"
    assert (tool_call.function.name, tool_call.function.output) == ("get_weather", "sunny")


def test_run_object_matches_spec(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    validate("RunObject", run.model_dump(mode="json"))
