"""The scripted model through the official openai and anthropic SDKs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from homeport.testing.scripted_model import (
    ScriptedModelOptions,
    ScriptedModelServer,
    embed,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def client(scripted_model: ScriptedModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=scripted_model.base_url, api_key="test", max_retries=0)


@pytest.fixture
def claude(scripted_model: ScriptedModelServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=scripted_model.url, api_key="test", max_retries=0)


def test_lists_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["scripted"]


def test_echoes_last_user_message_with_usage(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Echo: first"},
        {"role": "user", "content": "hello   world"},
    ]
    reply = client.chat.completions.create(model="any", messages=messages)
    assert reply.choices[0].message.content == "Echo: hello world"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "any"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3
    assert reply.usage.prompt_tokens == 4 * 3 + 2 + 1 + 2 + 2


def test_same_request_same_reply(client: openai.OpenAI) -> None:
    text = 'x [[call get_weather {"city": "Oslo"}]]'
    first = client.chat.completions.create(model="m", messages=user(text), tools=[WEATHER])
    second = client.chat.completions.create(model="m", messages=user(text), tools=[WEATHER])
    assert first.choices[0].message.tool_calls == second.choices[0].message.tool_calls


def test_streams_text_with_done_and_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m",
        messages=user("one two three"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_raw_stream_ends_with_done(scripted_model: ScriptedModelServer) -> None:
    body = {"model": "m", "messages": user("hi"), "stream": True}
    raw = httpx.post(scripted_model.base_url + "/chat/completions", json=body).text
    events = [line for line in raw.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    assert '"usage"' not in raw


def test_parallel_tool_calls_streamed_in_delta_format(client: openai.OpenAI) -> None:
    text = 'weather? [[call get_weather {"city": "Paris"}]] [[call get_weather {"city": "Rome"}]]'
    stream = client.chat.completions.create(
        model="m", messages=user(text), tools=[WEATHER], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    assert {calls[i]["name"] for i in (0, 1)} == {"get_weather"}
    assert calls[0]["id"].startswith("call_") and calls[0]["id"] != calls[1]["id"]


def test_parallel_tool_calls_false_makes_one_call(client: openai.OpenAI) -> None:
    text = '[[call get_weather {"city": "A"}]] [[call get_weather {"city": "B"}]]'
    reply = client.chat.completions.create(
        model="m", messages=user(text), tools=[WEATHER], parallel_tool_calls=False
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.arguments for c in calls] == ['{"city": "A"}']


def test_tool_choice_none_answers_text(client: openai.OpenAI) -> None:
    text = 'hi [[call get_weather {"city": "A"}]]'
    reply = client.chat.completions.create(
        model="m", messages=user(text), tools=[WEATHER], tool_choice="none"
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content == "Echo: hi"


def test_forced_tool_without_directive_gets_schema_arguments(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=user("plain"),
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    calls = reply.choices[0].message.tool_calls or []
    assert len(calls) == 1
    assert json.loads(calls[0].function.arguments) == {"city": "text"}


def test_answers_tool_results_then_next_round(client: openai.OpenAI) -> None:
    text = '[[call get_weather {"city": "A"}]] [[next]] [[call get_weather {"city": "B"}]]'
    messages: list[Any] = user(text)
    for expected in ("A", "B"):
        reply = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
        message = reply.choices[0].message
        assert message.tool_calls is not None
        assert json.loads(message.tool_calls[0].function.arguments) == {"city": expected}
        messages.append(message.model_dump(exclude_none=True))
        messages.append(
            {
                "role": "tool",
                "tool_call_id": message.tool_calls[0].id,
                "content": f"sunny in {expected}",
            }
        )
    final = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
    assert final.choices[0].message.content == "Tool results: get_weather=sunny in B"


def test_search_directive_calls_file_search(client: openai.OpenAI) -> None:
    file_search = {
        "type": "function",
        "function": {
            "name": "file_search",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
    reply = client.chat.completions.create(
        model="m", messages=user("[[search refund policy]]"), tools=[file_search]
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("file_search", {"query": "refund policy"})
    ]
    plain = client.chat.completions.create(model="m", messages=user("[[search refund policy]]"))
    assert plain.choices[0].message.content == "Echo:"


def test_json_directive_matches_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
            "score": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        },
        "required": ["name", "tags", "score"],
        "additionalProperties": False,
        "$defs": {"tag": {"type": "string", "enum": ["red", "blue"]}},
    }
    reply = client.chat.completions.create(
        model="m",
        messages=user("[[json]]"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": schema, "strict": True},
        },
    )
    value = json.loads(reply.choices[0].message.content or "")
    assert value == {"name": "text", "tags": ["red"], "score": 1.5}


def test_tokens_respect_max_tokens(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="m", messages=user("[[tokens 12]]"))
    assert full.usage is not None and full.usage.completion_tokens == 12
    cut = client.chat.completions.create(
        model="m", messages=user("[[tokens 12]]"), max_completion_tokens=5
    )
    assert cut.choices[0].finish_reason == "length"
    assert len((cut.choices[0].message.content or "").split()) == 5


def test_fail_directive_returns_openai_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=user("[[fail 429]]"))
    assert caught.value.status_code == 429
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=user("[[fail 500]]"))


def test_think_streams_reasoning_content(scripted_model: ScriptedModelServer) -> None:
    body = {"model": "m", "messages": user("[[think step by step]] hi"), "stream": True}
    raw = httpx.post(scripted_model.base_url + "/chat/completions", json=body).text
    deltas = [
        json.loads(e[6:])["choices"][0]["delta"]
        for e in raw.split("\n\n")
        if e.startswith("data: {")
    ]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "step by step"
    assert "".join(d.get("content") or "" for d in deltas) == "Echo: hi"


def test_embeddings_are_deterministic_and_similar_for_shared_words(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="e", input=["refund policy", "refund policy", "weather in Paris"]
    )
    a, b, c = (d.embedding for d in result.data)
    assert a == b
    dot = sum(x * y for x, y in zip(a, c, strict=True))
    assert dot < 0.99
    assert pytest.approx(sum(x * x for x in a)) == 1.0
    assert a == pytest.approx(embed("refund policy", 64), abs=1e-6)
    sized = client.embeddings.create(model="e", input="x", dimensions=8)
    assert len(sized.data[0].embedding) == 8


def test_embeddings_float_format(scripted_model: ScriptedModelServer) -> None:
    body = {"model": "e", "input": "hello", "encoding_format": "float"}
    data = httpx.post(scripted_model.base_url + "/embeddings", json=body).json()
    assert len(data["data"][0]["embedding"]) == 64
    assert data["usage"] == {"prompt_tokens": 1, "total_tokens": 1}


def test_request_log(scripted_model: ScriptedModelServer, client: openai.OpenAI) -> None:
    httpx.delete(scripted_model.url + "/_scripted/requests")
    client.chat.completions.create(model="m", messages=user("logged"))
    logged = httpx.get(scripted_model.url + "/_scripted/requests").json()
    assert [r["body"]["messages"] for r in logged] == [user("logged")]


def test_bad_json_is_an_openai_error(scripted_model: ScriptedModelServer) -> None:
    response = httpx.post(scripted_model.base_url + "/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_styles_and_personas_differ() -> None:
    options = ScriptedModelOptions(style="paraphrase", persona="B")
    with ScriptedModelServer(options) as other:
        client = openai.OpenAI(base_url=other.base_url, api_key="k")
        reply = client.chat.completions.create(model="m", messages=user("red green"))
    assert reply.choices[0].message.content == "[B] You said: green red"


def test_required_api_key_and_failure_rate() -> None:
    options = ScriptedModelOptions(api_key="secret", failure_rate=1.0)
    with ScriptedModelServer(options) as guarded:
        wrong = openai.OpenAI(base_url=guarded.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=guarded.base_url, api_key="secret", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            right.chat.completions.create(model="m", messages=user("x"))


def test_anthropic_message_with_thinking(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-test",
        max_tokens=100,
        system="be nice",
        messages=[{"role": "user", "content": "hey [[think hmm]]"}],
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].type == "text" and message.content[1].text == "Echo: hey"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3


def test_anthropic_streamed_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    tool: Any = {
        "name": "lookup",
        "description": "find",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    messages: list[Any] = [{"role": "user", "content": 'find [[call lookup {"q": "x"}]]'}]
    with claude.messages.stream(
        model="c", max_tokens=50, messages=messages, tools=[tool]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    use = final.content[0]
    assert use.type == "tool_use" and use.name == "lookup" and use.input == {"q": "x"}
    messages.append({"role": "assistant", "content": [b.model_dump() for b in final.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "found it"}],
        }
    )
    with claude.messages.stream(
        model="c", max_tokens=50, messages=messages, tools=[tool]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "Tool results: lookup=found it"


def test_anthropic_max_tokens_and_errors(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="c", max_tokens=3, messages=[{"role": "user", "content": "[[tokens 9]]"}]
    )
    assert message.stop_reason == "max_tokens"
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(
            model="c", max_tokens=3, messages=[{"role": "user", "content": "[[fail 500]]"}]
        )
    assert [m.id for m in claude.models.list()] == ["scripted"]
