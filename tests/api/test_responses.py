"""The Responses API through the official SDK against a live homeport, on SQLite and PostgreSQL.

Every JSON response is validated against OpenAI's spec (the ``client`` fixture); streamed events
are validated one by one against the spec's event schemas."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.servers import HomeportServer
from tests.support.spec import validate

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.reasoning_text.delta": "ResponseReasoningTextDeltaEvent",
    "response.reasoning_text.done": "ResponseReasoningTextDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def _model_messages(model: ScriptedModelServer, marker: str) -> list[dict[str, Any]]:
    """The chat messages of the last model request whose last message contains ``marker``."""
    for request in reversed(model.model.requests):
        messages = request["body"].get("messages") or []
        if messages and marker in json.dumps(messages[-1]):
            return list(messages)
    raise AssertionError(f"no model request ended with {marker!r}")


def _collapse(types: list[str]) -> list[str]:
    """Event types with runs of the same delta type collapsed to one."""
    out: list[str] = []
    for kind in types:
        if not (out and out[-1] == kind and kind.endswith(".delta")):
            out.append(kind)
    return out


def _sse(homeport: HomeportServer, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
    """The events of a server-sent event stream, raw, each validated against the spec."""
    headers = {"authorization": f"Bearer {homeport.api_key}"}
    events = []
    with httpx.stream(
        method, homeport.base_url + path, headers=headers, timeout=30, **kwargs
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
                assert data["type"] == name
                if name in EVENT_SCHEMAS:
                    validate(EVENT_SCHEMAS[name], data)
                events.append(data)
    return events


def test_plain_text(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="scripted", input="hello there", instructions="Be brief.", metadata={"k": "v"}
    )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Echo: hello there"
    assert response.instructions == "Be brief."
    assert response.metadata == {"k": "v"}
    assert response.usage is not None and response.usage.output_tokens == 3
    assert response.usage.total_tokens == response.usage.input_tokens + 3
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_")
    again = client.responses.retrieve(response.id)
    assert again.model_dump() == response.model_dump()
    items = client.responses.input_items.list(response.id)
    assert [(i.type, i.role) for i in items.data] == [("message", "user")]  # type: ignore[union-attr]
    assert items.data[0].content[0].text == "hello there"  # type: ignore[union-attr]


def test_item_input_roles_reach_the_model(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    response = client.responses.create(
        model="scripted",
        instructions="System rules.",
        input=[
            {"role": "developer", "content": "Developer note."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "an earlier answer"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "items marker"}],
            },
        ],
    )
    assert response.output_text == "Echo: items marker"
    messages = _model_messages(scripted_model, "items marker")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "System rules."),
        ("system", "Developer note."),
        ("user", "first"),
        ("assistant", "an earlier answer"),
        ("user", "items marker"),
    ]
    listed = client.responses.input_items.list(response.id, order="asc").data
    assert [i.role for i in listed] == ["developer", "user", "assistant", "user"]  # type: ignore[union-attr]


def test_streaming_with_sdk_helpers(client: openai.OpenAI) -> None:
    with client.responses.stream(model="scripted", input="stream me please") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert _collapse([e.type for e in events]) == TEXT_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Echo: stream me please" == final.output_text
    assert final.status == "completed"
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_raw_stream_matches_the_spec(homeport: HomeportServer) -> None:
    events = _sse(
        homeport,
        "POST",
        "/responses",
        json={"model": "scripted", "input": "raw stream", "stream": True},
    )
    assert _collapse([e["type"] for e in events]) == TEXT_EVENTS
    assert events[0]["response"]["status"] == "in_progress"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Echo: raw stream"


def test_function_call_round_trip(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    first = client.responses.create(
        model="scripted", tools=[WEATHER], input='weather? [[call get_weather {"city": "Oslo"}]]'
    )
    assert first.status == "completed"
    call = first.output[0]
    assert call.type == "function_call" and call.id.startswith("fc_")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Oslo"})
    assert first.tools[0].type == "function" and first.tools[0].name == "get_weather"
    second = client.responses.create(
        model="scripted",
        tools=[WEATHER],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert second.output_text == "Tool results: get_weather=sunny"
    # The same round trip without stored state: the client sends the whole history back.
    third = client.responses.create(
        model="scripted",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": 'weather? [[call get_weather {"city": "Oslo"}]]'},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
    )
    assert third.output_text == "Tool results: get_weather=rain"
    kinds = [i.type for i in client.responses.input_items.list(third.id, order="asc").data]
    assert kinds == ["message", "function_call", "function_call_output"]


def test_streamed_function_call(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="scripted", tools=[WEATHER], input='[[call get_weather {"city": "Rome"}]]'
    ) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.output[0].type == "function_call"
    assert json.loads(final.output[0].arguments) == {"city": "Rome"}


def test_tool_choice_and_parallel_calls(client: openai.OpenAI) -> None:
    forced = client.responses.create(
        model="scripted",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        input="no directive here",
    )
    assert [o.type for o in forced.output] == ["function_call"]
    assert forced.tool_choice.name == "get_weather"  # type: ignore[union-attr]
    none = client.responses.create(
        model="scripted",
        tools=[WEATHER],
        tool_choice="none",
        input='[[call get_weather {"city": "Oslo"}]] plain',
    )
    assert none.output_text == "Echo: plain"
    two = '[[call get_weather {"city": "A"}]] [[call get_weather {"city": "B"}]]'
    parallel = client.responses.create(model="scripted", tools=[WEATHER], input=two)
    assert len(parallel.output) == 2
    single = client.responses.create(
        model="scripted", tools=[WEATHER], input=two, parallel_tool_calls=False
    )
    assert len(single.output) == 1 and single.parallel_tool_calls is False


class City(BaseModel):
    name: str
    population: int


def test_json_schema_output(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["answer", "score"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model="scripted",
        input="[[json]]",
        text={
            "format": {"type": "json_schema", "name": "result", "schema": schema, "strict": True}
        },
    )
    assert json.loads(response.output_text) == {"answer": "text", "score": 1}
    assert response.text is not None and response.text.format.type == "json_schema"
    parsed = client.responses.parse(model="scripted", input="[[json]]", text_format=City)
    assert parsed.output_parsed == City(name="text", population=1)


def test_previous_response_chain(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    one = client.responses.create(model="scripted", input="one", instructions="First rules.")
    two = client.responses.create(model="scripted", input="two", previous_response_id=one.id)
    three = client.responses.create(
        model="scripted",
        input="three marker",
        previous_response_id=two.id,
        instructions="Third rules.",
    )
    assert three.previous_response_id == two.id
    messages = _model_messages(scripted_model, "three marker")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Third rules."),  # instructions are not carried over
        ("user", "one"),
        ("assistant", "Echo: one"),
        ("user", "two"),
        ("assistant", "Echo: two"),
        ("user", "three marker"),
    ]


def test_store_false(client: openai.OpenAI, scripted_model: ScriptedModelServer) -> None:
    stored = client.responses.create(model="scripted", input="kept")
    loose = client.responses.create(
        model="scripted", input="not kept marker", store=False, previous_response_id=stored.id
    )
    assert loose.store is False and loose.output_text == "Echo: not kept marker"
    assert [m["content"] for m in _model_messages(scripted_model, "not kept marker")] == [
        "kept",
        "Echo: kept",
        "not kept marker",
    ]
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(loose.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="scripted", input="x", previous_response_id=loose.id)
    assert error.value.code == "previous_response_not_found"
    with client.responses.stream(model="scripted", input="streamed", store=False) as stream:
        streamed = stream.get_final_response()
    assert streamed.output_text == "Echo: streamed"


def test_incomplete_and_failed(client: openai.OpenAI) -> None:
    cut = client.responses.create(model="scripted", input="[[tokens 40]]", max_output_tokens=16)
    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output[0].status == "incomplete"  # type: ignore[union-attr]
    assert len(cut.output_text.split()) == 16
    failed = client.responses.create(model="scripted", input="[[fail 500]]")
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "server_error"


def test_reasoning_passed_through(client: openai.OpenAI) -> None:
    response = client.responses.create(model="scripted", input="[[think step by step]] answer")
    assert [o.type for o in response.output] == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.id.startswith("rs_")
    assert reasoning.content is not None and reasoning.content[0].text == "step by step"  # type: ignore[union-attr]
    assert response.output_text == "Echo: answer"


def test_background_cancel_and_reattach(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="scripted", input="[[drip 40]] [[tokens 200]]", background=True
    )
    assert response.status == "queued" and response.background is True
    with client.responses.retrieve(response.id, stream=True) as events:
        seen = []
        for event in events:
            seen.append(event)
            if event.type == "response.output_text.delta" and len(seen) > 6:
                break
    resumed = client.responses.retrieve(response.id, stream=True, starting_after=4)
    with resumed as events:
        first = next(iter(events))
    assert first.sequence_number == 5
    assert first.type == seen[5].type
    cancelled = client.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(response.id).status == "cancelled"
    assert client.responses.cancel(response.id).status == "cancelled"  # idempotent


def test_background_stream_reattached_with_sdk_helper(client: openai.OpenAI) -> None:
    stream = client.responses.create(
        model="scripted", input="[[drip 5]] background words here", background=True, stream=True
    )
    head = []
    for event in stream:
        head.append(event)
        if len(head) == 4:
            break
    stream.close()
    response_id = head[0].response.id  # type: ignore[union-attr]
    with client.responses.stream(response_id=response_id, starting_after=3) as resumed:
        rest = list(resumed)
        final = resumed.get_final_response()
    assert rest[0].sequence_number == 4
    assert rest[-1].type == "response.completed"
    assert final.output_text == "Echo: background words here"


def test_delete(client: openai.OpenAI) -> None:
    response = client.responses.create(model="scripted", input="to delete")
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(response.id)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "nope", "input": "x"}, "model"),
        ({"model": "scripted", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "scripted", "input": "x", "max_output_tokens": 3}, "max_output_tokens"),
        ({"model": "scripted", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "scripted", "input": "x", "include": ["nope"]}, "include"),
        ({"model": "scripted", "input": "x", "surprise": 1}, "surprise"),
        ({"model": "scripted", "input": [{"type": "nope"}]}, None),
        ({"model": "scripted", "input": "x", "background": True, "store": False}, None),
        ({"model": "scripted", "input": "x" * 10_485_761}, "input"),
        ({"model": "scripted", "input": [{"role": "user", "content": "x"}] * 2049}, "input"),
        ({"model": "scripted", "input": [{"type": "item_reference", "id": "msg_x"}]}, None),
    ],
)
def test_bad_requests(client: openai.OpenAI, body: dict[str, Any], param: str | None) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.post("/responses", body=body, cast_to=dict)
    assert error.value.status_code == 400
    if param is not None:
        assert error.value.param == param


def test_bad_references(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(model="scripted", input="x", previous_response_id="resp_nope")
    assert error.value.code == "previous_response_not_found"
    assert "resp_nope" in error.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="scripted", input="x", conversation="conv_nope")
    conversation = client.conversations.create()
    first = client.responses.create(model="scripted", input="x")
    with pytest.raises(openai.BadRequestError) as error:
        client.responses.create(
            model="scripted",
            input="x",
            previous_response_id=first.id,
            conversation=conversation.id,
        )
    assert "previous_response_id" in error.value.message
    for call in (
        lambda: client.responses.retrieve("resp_nope"),
        lambda: client.responses.cancel("resp_nope"),
        lambda: client.responses.input_items.list("resp_nope"),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(first.id)  # not a background response


def test_responses_are_isolated_per_project(
    client: openai.OpenAI, other_project: openai.OpenAI
) -> None:
    response = client.responses.create(model="scripted", input="mine")
    with pytest.raises(openai.NotFoundError):
        other_project.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError):
        other_project.responses.create(
            model="scripted", input="x", previous_response_id=response.id
        )


def test_file_search_call(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="docs")
    upload = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id,
        file=("guide.md", io.BytesIO(b"# Guide\n\nThe launch code is blue falcon.")),
    )
    assert upload.status == "completed", upload.last_error
    tools: list[Any] = [{"type": "file_search", "vector_store_ids": [store.id]}]
    response = client.responses.create(
        model="scripted",
        input="launch code? [[search launch code]]",
        tools=tools,
        include=["file_search_call.results"],
    )
    search, message = response.output
    assert search.type == "file_search_call" and search.id.startswith("fs_")
    assert search.queries == ["launch code"] and search.status == "completed"
    assert search.results is not None and search.results[0].file_id == upload.id
    assert "blue falcon" in (search.results[0].text or "")
    assert message.type == "message"
    [note] = message.content[0].annotations  # type: ignore[union-attr]
    assert note.type == "file_citation" and note.file_id == upload.id
    plain = client.responses.retrieve(response.id)
    assert plain.output[0].results is None  # type: ignore[union-attr]
    with client.responses.stream(
        model="scripted", input="[[search falcon]]", tools=tools
    ) as stream:
        types = _collapse([e.type for e in stream])
    assert types[2:7] == [
        "response.output_item.added",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done",
    ]
