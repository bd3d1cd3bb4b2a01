"""Runs and run steps through the official SDK against a live homeport, on SQLite and PostgreSQL.

Every JSON response is validated against OpenAI's spec (the ``client`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import delete, event, func, select, update

from homeport.store.models import Agent, Conversation, Run
from homeport.testing.scripted_model import ScriptedModelServer
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
        run_id=run.id,
        thread_id=thread,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "sunny"}],
    )
    assert run.status == "completed", run.last_error
    assert run.required_action is None
    assert _texts(client, thread)[-1] == ("assistant", "Tool results: get_weather=sunny")
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    tool_call = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert tool_call.type == "function"
    assert (tool_call.function.name, tool_call.function.output) == ("get_weather", "sunny")


def test_create_thread_and_run_then_retrieve_its_steps(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    run = client.beta.threads.create_and_run(
        assistant_id=assistant,
        thread={"messages": [{"role": "user", "content": "hello there"}]},
    )
    assert run.status in ("queued", "in_progress", "completed")
    run = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id)
    assert run.status == "completed"
    listed = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
    step = client.beta.threads.runs.steps.retrieve(
        listed[0].id, thread_id=run.thread_id, run_id=run.id
    )
    assert step.id == listed[0].id and step.run_id == run.id and step.type == "message_creation"
    assert _texts(client, run.thread_id)[-1] == ("assistant", "Echo: hello there")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve(
            "step_missing", thread_id=run.thread_id, run_id=run.id
        )


def test_run_object_matches_spec(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    validate("RunObject", run.model_dump(mode="json"))


class Recorder(openai.AssistantEventHandler):
    """Records every event name the SDK's stream helper sees, and the text it assembled."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.text = ""

    def on_event(self, event: Any) -> None:
        self.names.append(event.event)
        validate(
            "AssistantStreamEvent",
            {"event": event.event, "data": event.data.model_dump(mode="json", exclude_unset=True)},
        )

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text = snapshot.value


MESSAGE_EVENTS = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]


def _collapse(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if not (out and out[-1] == name == "thread.message.delta"):
            out.append(name)
    return out


def test_stream_with_event_handler(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "stream this please")
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread, assistant_id=assistant, event_handler=handler
    ) as stream:
        stream.until_done()
    assert _collapse(handler.names) == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        *MESSAGE_EVENTS,
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    assert handler.text == "Echo: stream this please"
    assert handler.current_run is not None and handler.current_run.status == "completed"


def test_create_thread_and_run_stream(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    handler = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant,
        thread={"messages": [{"role": "user", "content": "new thread"}]},
        event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.names[:3] == ["thread.created", "thread.run.created", "thread.run.queued"]
    assert handler.names[-1] == "thread.run.completed"
    assert handler.text == "Echo: new thread"


def test_stream_tool_calls_then_submit_stream(client: openai.OpenAI) -> None:
    assistant = _assistant(client, tools=[WEATHER, TIME])
    thread = _thread(
        client, '[[call get_weather {"city": "Rome"}]] [[call get_time {"zone": "CET"}]]'
    )
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread, assistant_id=assistant, event_handler=handler
    ) as stream:
        stream.until_done()
    assert handler.names == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    run = handler.current_run
    assert run is not None and run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # parallel calls
    after = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread,
        tool_outputs=[
            {"tool_call_id": calls[0].id, "output": "warm"},
            {"tool_call_id": calls[1].id, "output": "noon"},
        ],
        event_handler=after,
    ) as stream:
        stream.until_done()
    assert _collapse(after.names) == [
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.completed",
        *MESSAGE_EVENTS,
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    assert after.text == "Tool results: get_weather=warm; get_time=noon"


def test_submit_tool_outputs_must_answer_every_call(client: openai.OpenAI) -> None:
    assistant = _assistant(client, tools=[WEATHER, TIME])
    thread = _thread(client, "[[call get_weather]] [[call get_time]]")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "requires_action" and run.required_action is not None
    first = run.required_action.submit_tool_outputs.tool_calls[0].id
    with pytest.raises(openai.BadRequestError, match="Expected tool outputs"):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread, tool_outputs=[{"tool_call_id": first, "output": "x"}]
        )
    with pytest.raises(openai.BadRequestError, match="Invalid tool_call_id"):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread, tool_outputs=[{"tool_call_id": "call_nope", "output": "x"}]
        )


def test_parallel_tool_calls_false_gives_one_call(client: openai.OpenAI) -> None:
    assistant = _assistant(client, tools=[WEATHER, TIME])
    thread = _thread(client, "[[call get_weather]] [[call get_time]]")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread, assistant_id=assistant, parallel_tool_calls=False
    )
    assert run.required_action is not None
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 1
    assert run.parallel_tool_calls is False


def test_cancel_waiting_run(client: openai.OpenAI) -> None:
    assistant = _assistant(client, tools=[WEATHER])
    thread = _thread(client, "[[call get_weather]]")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "requires_action"
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread).data
    assert [s.status for s in steps] == ["cancelled"]
    with pytest.raises(openai.BadRequestError, match="Cannot move run"):
        client.beta.threads.runs.cancel(run.id, thread_id=thread)


def test_cancel_streaming_run(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "[[tokens 200]] [[drip 20]]")
    run = client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
    while client.beta.threads.runs.retrieve(run.id, thread_id=thread).status == "queued":
        pass
    assert client.beta.threads.runs.cancel(run.id, thread_id=thread).status == "cancelling"
    final = client.beta.threads.runs.poll(run.id, thread_id=thread)
    assert final.status == "cancelled"
    message = client.beta.threads.messages.list(thread, run_id=run.id).data
    assert all(m.status == "incomplete" for m in message)


def _last_model_request(scripted_model: ScriptedModelServer, thread_marker: str) -> Any:
    for entry in reversed(scripted_model.model.requests):
        if thread_marker in json.dumps(entry["body"]):
            return entry["body"]
    raise AssertionError("the model never saw the request")


def test_run_level_overrides(client: openai.OpenAI, scripted_model: ScriptedModelServer) -> None:
    assistant = _assistant(client, instructions="Base.")
    thread = _thread(client, "first")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread,
        assistant_id=assistant,
        additional_instructions="Extra.",
        additional_messages=[{"role": "user", "content": "second [[json]]"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
        },
        temperature=0.3,
        top_p=0.5,
        metadata={"k": "v"},
        truncation_strategy={"type": "last_messages", "last_messages": 1},
    )
    assert run.status == "completed"
    assert run.instructions == "Base.\n\nExtra."
    assert run.metadata == {"k": "v"} and run.temperature == 0.3 and run.top_p == 0.5
    assert json.loads(_texts(client, thread)[-1][1]) == {"n": 1}
    sent = _last_model_request(scripted_model, "second [[json]]")
    assert sent["messages"] == [
        {"role": "system", "content": "Base.\n\nExtra."},
        {"role": "user", "content": "second [[json]]"},
    ]
    assert (sent["temperature"], sent["top_p"]) == (0.3, 0.5)
    assert sent["response_format"]["type"] == "json_schema"
    modified = client.beta.threads.runs.update(run.id, thread_id=thread, metadata={"k": "w"})
    assert modified.metadata == {"k": "w"}
    listed = client.beta.threads.runs.list(thread).data
    assert [r.id for r in listed] == [run.id]


def test_max_completion_tokens_makes_run_incomplete(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "[[tokens 400]]")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread, assistant_id=assistant, max_completion_tokens=256
    )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None and run.usage.completion_tokens == 256
    message = client.beta.threads.messages.list(thread, run_id=run.id).data[0]
    assert message.status == "incomplete"


def test_upstream_failure_fails_run(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "[[fail 500]]")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "failed" and run.failed_at is not None
    assert run.last_error is not None and run.last_error.code == "server_error"
    assert "HTTP 500" in run.last_error.message


def test_upstream_stream_cut_off_fails_run(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "[[cut]] tell me a story")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "failed"
    assert run.last_error is not None and run.last_error.code == "server_error"
    assert "ended before" in run.last_error.message


def test_upstream_rate_limit(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "[[fail 429]]")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "failed"
    assert run.last_error is not None and run.last_error.code == "rate_limit_exceeded"


def test_unknown_model_is_refused_with_the_fix(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "hi")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant, model="gpt-9")
    assert 'add [[models]] name = "gpt-9" to homeport.toml' in str(caught.value)


def test_code_interpreter_is_refused_by_name(client: openai.OpenAI) -> None:
    assistant = _assistant(client)
    thread = _thread(client, "hi")
    with pytest.raises(openai.BadRequestError, match="code_interpreter"):
        client.beta.threads.runs.create(
            thread_id=thread, assistant_id=assistant, tools=[{"type": "code_interpreter"}]
        )


def test_one_active_run_per_thread(client: openai.OpenAI) -> None:
    assistant = _assistant(client, tools=[WEATHER])
    thread = _thread(client, "[[call get_weather]]")
    busy = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert busy.status == "requires_action"
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
    assert caught.value.message.endswith(f"Thread {thread} already has an active run {busy.id}.")
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(thread, role="user", content="more")
    assert caught.value.message.endswith(
        f"Can't add messages to {thread} while a run {busy.id} is active."
    )


def test_create_thread_and_run_makes_vector_stores(client: openai.OpenAI) -> None:
    """The ``vector_stores`` helper works in the new thread's resources, as on create-thread
    and create-assistant; the run's own ``tool_resources`` take IDs only, as OpenAI's do."""
    notes = client.files.create(file=("notes.txt", b"homeport keeps IDs."), purpose="assistants")
    assistant = _assistant(client, tools=[{"type": "file_search"}])
    helper = {"file_search": {"vector_stores": [{"file_ids": [notes.id]}]}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.create_and_run(
            assistant_id=assistant,
            thread={"messages": [{"role": "user", "content": "hello"}]},
            extra_body={"tool_resources": helper},
        )
    assert caught.value.body == {
        "message": "Unknown parameter: 'tool_resources.file_search.vector_stores'.",
        "type": "invalid_request_error",
        "param": "tool_resources.file_search.vector_stores",
        "code": "unknown_parameter",
    }
    assert client.vector_stores.list().data == []
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant,
        thread={"messages": [{"role": "user", "content": "hello"}], "tool_resources": helper},
    )
    assert run.status == "completed"
    thread = client.beta.threads.retrieve(run.thread_id)
    assert thread.tool_resources is not None and thread.tool_resources.file_search is not None
    [store_id] = thread.tool_resources.file_search.vector_store_ids or []
    assert [f.id for f in client.vector_stores.files.list(store_id)] == [notes.id]


def test_unknown_files_are_refused_and_nothing_is_made(
    client: openai.OpenAI, homeport: Any
) -> None:
    assistant = _assistant(client)
    message: Any = {
        "role": "user",
        "content": "see the file",
        "attachments": [{"file_id": "file_nope", "tools": [{"type": "file_search"}]}],
    }
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.create_and_run(assistant_id=assistant, thread={"messages": [message]})
    assert caught.value.message.endswith("No such File object: file_nope")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "thread.messages[0].attachments[0].file_id"
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.create_and_run(
            assistant_id=assistant,
            tool_resources={"code_interpreter": {"file_ids": ["file_gone"]}},
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tool_resources.code_interpreter.file_ids[0]"
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.create_and_run(
            assistant_id=assistant,
            thread={"tool_resources": {"file_search": {"vector_store_ids": ["vs_gone"]}}},
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "thread.tool_resources.file_search.vector_store_ids[0]"
    thread = _thread(client, "hi")
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.runs.create(
            thread_id=thread, assistant_id=assistant, additional_messages=[message]
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "additional_messages[0].attachments[0].file_id"
    with homeport.services.db.session() as session:
        counts = [session.scalar(select(func.count()).select_from(m)) for m in (Conversation, Run)]
    assert counts == [1, 0]  # only the thread made above; no run, no thread of a failed call


def test_anthropic_provider_with_tools(client: openai.OpenAI) -> None:
    assistant = _assistant(client, model="claude-scripted", tools=[WEATHER])
    thread = _thread(client, '[[call get_weather {"city": "Lima"}]]')
    run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
    assert run.status == "requires_action" and run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Lima"}
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread, tool_outputs=[{"tool_call_id": call.id, "output": "mild"}]
    )
    assert run.status == "completed"
    assert _texts(client, thread)[-1] == ("assistant", "Tool results: get_weather=mild")
    assert run.usage is not None and run.usage.prompt_tokens > 0


def test_anthropic_provider_structured_output(
    client: openai.OpenAI, scripted_model: ScriptedModelServer
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assistant = _assistant(client, model="claude-scripted")
    thread = _thread(client, "claude answers [[json]]")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread,
        assistant_id=assistant,
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    )
    assert run.status == "completed"
    assert json.loads(_texts(client, thread)[-1][1]) == {"n": 1}
    sent = _last_model_request(scripted_model, "claude answers [[json]]")
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "system" not in sent


def test_not_found_errors(client: openai.OpenAI) -> None:
    thread = _thread(client, "hi")
    with pytest.raises(openai.NotFoundError, match="No run found"):
        client.beta.threads.runs.retrieve("run_missing", thread_id=thread)
    with pytest.raises(openai.NotFoundError, match="No assistant found"):
        client.beta.threads.runs.create(thread_id=thread, assistant_id="asst_missing")


def test_metrics_count_runs_and_model_calls(client: openai.OpenAI, homeport: Any) -> None:
    assistant = _assistant(client)
    client.beta.threads.runs.create_and_poll(
        thread_id=_thread(client, "count me"), assistant_id=assistant
    )
    text = httpx.get(homeport.url + "/metrics").text
    assert 'homeport_runs_total{kind="run",status="completed"} 1.0' in text
    assert 'homeport_model_call_seconds_count{model="scripted",provider="openai"} 1.0' in text
    assert 'homeport_tokens_total{kind="completion",model="scripted"}' in text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_runs_use_their_assistant_as_it_is_now_though_it_is_cached(homeport: Any) -> None:
    """PostgreSQL: run creation reads its assistant once per process, then only checks, inside
    the transaction, that the row is unchanged; changed or deleted anywhere (here behind the
    server's back, as another process would), the run reads it afresh."""
    statements: list[str] = []
    engine = homeport.services.db.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with homeport.client() as client:
        assistant = _assistant(client, instructions="first")
        thread = client.beta.threads.create().id

        def instructions_of_new_runs() -> tuple[str | None, str | None]:
            made = client.beta.threads.create_and_run_poll(assistant_id=assistant)
            run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
            return made.instructions, run.instructions

        assert instructions_of_new_runs() == ("first", "first")
        assert instructions_of_new_runs() == ("first", "first")
        reads = [s for s in statements if "row_version" in s]
        checks = [s for s in statements if "homeport_raise" in s and "agents" in s]
        assert (len(reads), len(checks)) == (1, 3)
        with engine.begin() as conn:
            conn.execute(update(Agent).where(Agent.id == assistant).values(instructions="second"))
        assert instructions_of_new_runs() == ("second", "second")
        with engine.begin() as conn:
            conn.execute(delete(Agent).where(Agent.id == assistant))
        with pytest.raises(openai.NotFoundError, match="No assistant found"):
            client.beta.threads.create_and_run(assistant_id=assistant)
        with pytest.raises(openai.NotFoundError, match="No assistant found"):
            client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
