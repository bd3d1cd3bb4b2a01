"""Tool-output replay: the candidate gets the client's outputs under its own call IDs, whichever
gateway replica the outputs reach (the replay maps live in the store), and whichever replica
sees a polled run wait for them."""

from __future__ import annotations

import time
from typing import Any

import openai
import orjson
import pytest
from sqlalchemy import select

from homeport.gateway.replay import (
    Call,
    function_calls,
    match_calls,
    rewrite_tool_outputs,
    tool_output_ids,
)
from homeport.gateway.replaymaps import Entry, ReplayMaps
from homeport.gateway.seams import CapturedResponse, ShadowPair, Upstream
from homeport.store.db import Database
from homeport.store.models import Item
from homeport.testing.scripted_model import ScriptedModelOptions
from tests.gateway.conftest import GatewayFactory
from tests.support.servers import HomeportServer


def _answer(body: object, streamed: bool = False) -> CapturedResponse:
    raw = (
        b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in body)  # type: ignore[attr-defined]
        if streamed
        else orjson.dumps(body)
    )
    return CapturedResponse(Upstream.HOMEPORT, 200, (), raw, None, time.time(), None, 0.1, streamed)


def test_function_calls_from_responses_and_runs() -> None:
    response = {
        "id": "resp_1",
        "output": [
            {"type": "message", "content": []},
            {"type": "function_call", "call_id": "call_a", "name": "get", "arguments": '{"x": 1}'},
        ],
    }
    assert function_calls(_answer(response)) == [Call("call_a", "get", '{"x": 1}')]
    events = [
        {"type": "response.created", "response": {"id": "resp_1", "output": []}},
        {"type": "response.completed", "response": response},
    ]
    assert function_calls(_answer(events, streamed=True)) == [Call("call_a", "get", '{"x": 1}')]
    run = {
        "id": "run_1",
        "required_action": {
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": "call_r",
                        "type": "function",
                        "function": {"name": "get", "arguments": "{}"},
                    }
                ]
            }
        },
    }
    assert function_calls(_answer(run)) == [Call("call_r", "get", "{}")]


def test_matching_ignores_key_order_and_refuses_different_calls() -> None:
    primary = [Call("p1", "get", '{"a": 1, "b": 2}'), Call("p2", "put", "{}")]
    candidate = [Call("c2", "put", "{}"), Call("c1", "get", '{"b":2,"a":1}')]
    assert match_calls(primary, candidate) == {"p1": "c1", "p2": "c2"}
    assert match_calls(primary, [Call("c1", "get", '{"a": 1, "b": 3}'), candidate[0]]) is None
    assert match_calls(primary, candidate[:1]) is None


def test_rewrite_both_protocols() -> None:
    body = {
        "previous_response_id": "resp_1",
        "input": [
            {"type": "function_call_output", "call_id": "p1", "output": "42"},
            {"role": "user", "content": "and?"},
        ],
    }
    assert tool_output_ids(body) == ["p1"]
    rewritten = rewrite_tool_outputs(body, {"p1": "c1"})
    assert rewritten["input"][0] == {
        "type": "function_call_output",
        "call_id": "c1",
        "output": "42",
    }
    assert rewritten["input"][1] == body["input"][1]
    assert body["input"][0]["call_id"] == "p1"  # the primary's request is untouched
    outputs = {"tool_outputs": [{"tool_call_id": "p1", "output": "42"}]}
    assert tool_output_ids(outputs) == ["p1"]
    assert rewrite_tool_outputs(outputs, {"p1": "c1"})["tool_outputs"][0]["tool_call_id"] == "c1"


def test_replay_maps_merge_and_expire(database_url: str) -> None:
    db = Database(database_url)
    maps = ReplayMaps(db, "default", ttl_seconds=3600)
    calls = ([Call("p1", "get", "{}")], [Call("c1", "get", "{}")])
    maps.write({"resp_a": Entry(candidate_id="resp_b"), "thread_t": Entry()})
    maps.write({"resp_a": Entry(calls=calls), "thread_t": Entry(broken=True)})
    maps.write({"thread_t": Entry()})  # a later turn renews the row; broken sticks
    assert maps.read(["resp_a", "thread_t", "resp_unknown"]) == {
        "resp_a": Entry("resp_b", calls, False),
        "thread_t": Entry(None, None, True),
    }
    assert ReplayMaps(db, "other", ttl_seconds=3600).read(["resp_a"]) == {}  # per gateway
    stale = ReplayMaps(db, "stale", ttl_seconds=-1)  # rows written already expired
    stale.write({"resp_old": Entry(candidate_id="resp_x")})
    assert stale.read(["resp_old"]) == {}
    assert maps.expire() == 1
    assert len(maps.read(["resp_a", "thread_t"])) == 2
    db.dispose()


LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}},
    },
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _shadowing(homeports: tuple[HomeportServer, HomeportServer]) -> dict[str, Any]:
    """Gateway settings: shadow mode, the first server managed, the second the candidate."""
    managed, candidate = homeports
    return {
        "mode": "shadow",
        "managed": {"base_url": managed.base_url, "api_key": managed.api_key},
        "homeport": {"base_url": candidate.base_url, "api_key": candidate.admin_key},
    }


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=400)]
)
def test_tool_outputs_reach_the_candidate_through_another_replica(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """Two replicas on one PostgreSQL: each tool call is answered through the replica that did
    not see it (and whose own copy of the call is still running on the slow candidate)."""
    _, candidate = two_homeports
    sides = _shadowing(two_homeports)
    first, second = start_gateway(**sides), start_gateway(**sides)
    with first.client() as a, second.client() as b:
        asked = a.responses.create(
            model="scripted", tools=[WEATHER], input='[[call get_weather {"city": "Oslo"}]]'
        )
        call = next(o for o in asked.output if o.type == "function_call")
        answered = b.responses.create(
            model="scripted",
            tools=[WEATHER],
            previous_response_id=asked.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        )
        assert answered.output_text.startswith("[managed]")

        assistant = a.beta.assistants.create(model="scripted", tools=[LOOKUP])  # type: ignore[list-item]
        thread = a.beta.threads.create(
            messages=[{"role": "user", "content": '[[call lookup {"order": 7}]]'}]
        )
        events = list(
            a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True)
        )
        run = events[-2].data if events[-1].event == "done" else events[-1].data
        assert run.status == "requires_action"  # type: ignore[union-attr]
        tool_call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
        finished = b.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,  # type: ignore[union-attr]
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": tool_call.id, "output": "shipped"}],
            poll_interval_ms=20,
        )
        assert finished.status == "completed"
    first.stop()
    second.stop()
    # Each replica's pairs, in the order its copies finished.
    on_first = {p.request.path.rsplit("/", 1)[-1]: p for p in first.pairs()}
    on_second = {p.request.path.rsplit("/", 1)[-1]: p for p in second.pairs()}
    assert set(on_first) == {"responses", "runs"}
    assert set(on_second) == {"responses", "submit_tool_outputs"}
    # Responses: the candidate's own response ID and call ID, learned on the first replica.
    replayed = on_second["responses"]
    assert replayed.candidate.ok, replayed.candidate.body
    sent = replayed.candidate_request.json()
    candidate_first = on_first["responses"].candidate.json()
    assert sent["previous_response_id"] == candidate_first["id"] != asked.id
    candidate_call = next(o for o in candidate_first["output"] if o["type"] == "function_call")
    assert sent["input"][0]["call_id"] == candidate_call["call_id"]
    assert "sunny" in str(replayed.candidate.json()["output"])
    # Assistants: the run's tool outputs under the candidate's call ID, and the run completes.
    submitted = on_second["submit_tool_outputs"]
    assert submitted.candidate.ok, submitted.candidate.body
    candidate_calls = [
        c["id"]
        for e in on_first["runs"].candidate.events()
        if isinstance(e, dict) and e.get("required_action")
        for c in e["required_action"]["submit_tool_outputs"]["tool_calls"]
    ]
    assert submitted.candidate_request.json()["tool_outputs"][0]["tool_call_id"] in candidate_calls
    with candidate.services.db.sessions() as session:
        outputs = session.scalars(select(Item).where(Item.type == "function_call_output")).all()
    assert {o.data.get("output") for o in outputs} >= {"sunny", "shipped"}


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_polled_run_tool_outputs_reach_the_candidate(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """The SDK's create_and_poll: the primary's calls show only in a poll answer, which the
    gateway hands to its worker; the client's outputs then reach the candidate's run."""
    _, candidate = two_homeports
    gateway = start_gateway(**_shadowing(two_homeports))
    with gateway.client() as client:
        assistant = client.beta.assistants.create(model="scripted", tools=[LOOKUP])  # type: ignore[list-item]
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": '[[call lookup {"order": 7}]]'}]
        )
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
        )
        assert run.status == "requires_action"
        assert run.required_action is not None
        tool_call = run.required_action.submit_tool_outputs.tool_calls[0]
        finished = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": tool_call.id, "output": "shipped"}],
            poll_interval_ms=20,
        )
        assert finished.status == "completed"
        assert "[managed]" in str(client.beta.threads.messages.list(thread_id=thread.id).data)
    gateway.stop()
    pairs = {p.request.path.rsplit("/", 1)[-1]: p for p in gateway.pairs()}
    assert set(pairs) == {"runs", "submit_tool_outputs"}  # the polls are not model calls
    _assert_candidate_run_took_the_outputs(pairs["submit_tool_outputs"], candidate)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_polled_run_across_replicas_reaches_the_candidate(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """Created through one replica, polled and answered through the other: the replica that
    sees the run wait for tool outputs did not make its shadow copy."""
    _, candidate = two_homeports
    sides = _shadowing(two_homeports)
    first, second = start_gateway(**sides), start_gateway(**sides)
    with first.client() as a, second.client() as b:
        assistant = a.beta.assistants.create(model="scripted", tools=[LOOKUP])  # type: ignore[list-item]
        thread = a.beta.threads.create(
            messages=[{"role": "user", "content": '[[call lookup {"order": 7}]]'}]
        )
        created = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        run = b.beta.threads.runs.poll(created.id, thread_id=thread.id, poll_interval_ms=20)
        assert run.status == "requires_action"
        assert run.required_action is not None
        tool_call = run.required_action.submit_tool_outputs.tool_calls[0]
        a.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": tool_call.id, "output": "shipped"}],
        )
        finished = b.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=20)
        assert finished.status == "completed"
    first.stop()
    second.stop()
    pairs = {p.request.path.rsplit("/", 1)[-1]: p for p in first.pairs()}
    assert set(pairs) == {"runs", "submit_tool_outputs"}
    assert second.pairs() == []  # polls are not model calls
    _assert_candidate_run_took_the_outputs(pairs["submit_tool_outputs"], candidate)


def _assert_candidate_run_took_the_outputs(
    submitted: ShadowPair, candidate: HomeportServer
) -> None:
    """The replayed submit named one of the candidate's own tool calls, and its run completed."""
    assert submitted.candidate.ok, submitted.candidate.body
    _, _, candidate_thread, _, candidate_run, _ = submitted.candidate_request.path.strip("/").split(
        "/"
    )
    with openai.OpenAI(
        base_url=candidate.base_url, api_key=candidate.admin_key, max_retries=0
    ) as direct:
        replayed = direct.beta.threads.runs.poll(
            candidate_run, thread_id=candidate_thread, poll_interval_ms=20
        )
        steps = direct.beta.threads.runs.steps.list(candidate_run, thread_id=candidate_thread)
    assert replayed.status == "completed"
    candidate_calls = [
        c.id
        for step in steps.data
        if step.step_details.type == "tool_calls"
        for c in step.step_details.tool_calls
    ]
    sent = submitted.candidate_request.json()["tool_outputs"][0]
    assert sent == {"tool_call_id": sent["tool_call_id"], "output": "shipped"}
    assert sent["tool_call_id"] in candidate_calls
    with candidate.services.db.sessions() as session:
        outputs = session.scalars(select(Item).where(Item.type == "function_call_output")).all()
    assert {o.data.get("output") for o in outputs} == {"shipped"}
