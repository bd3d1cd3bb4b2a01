"""Tool-output replay: the candidate gets the client's outputs under its own call IDs, whichever
gateway replica the outputs reach (the replay maps live in the store), and whichever replica
sees a polled run wait for them."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import openai
import orjson
import pytest
from openai.types.beta.threads import Run
from sqlalchemy import select

from homeport.gateway.replay import (
    Call,
    function_calls,
    match_calls,
    rewrite_tool_outputs,
    step_function_calls,
    tool_output_ids,
)
from homeport.gateway.replaymaps import Entry, ReplayMaps, learning_key
from homeport.gateway.seams import CapturedResponse, ShadowPair, Upstream
from homeport.store.db import Database
from homeport.store.models import Item
from homeport.testing.scripted_model import ScriptedModelOptions
from tests.gateway.conftest import GatewayFactory, GatewayServer, shadowing, wait_for
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


def _step(step_id: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": step_id,
        "object": "thread.run.step",
        "type": details["type"],
        "step_details": details,
    }


def _function(call_id: str, arguments: str, output: str | None = None) -> dict[str, Any]:
    function = {"name": "lookup", "arguments": arguments, "output": output}
    return {"id": call_id, "type": "function", "function": function}


def test_step_function_calls_finds_the_step_answered() -> None:
    """A run's steps (newest first) still show the calls once the run has moved on."""
    page = {
        "object": "list",
        "data": [
            _step("step_3", {"type": "message_creation", "message_creation": {"message_id": "m"}}),
            _step(
                "step_2",
                {
                    "type": "tool_calls",
                    "tool_calls": [
                        {"id": "call_ci", "type": "code_interpreter", "code_interpreter": {}},
                        _function("call_b", '{"order": 2}', "shipped"),
                        _function("call_c", '{"order": 3}', "shipped"),
                    ],
                },
            ),
            _step("step_1", {"type": "tool_calls", "tool_calls": [_function("call_a", "{}")]}),
        ],
        "has_more": False,
    }
    later = [Call("call_b", "lookup", '{"order": 2}'), Call("call_c", "lookup", '{"order": 3}')]
    assert step_function_calls(_answer(page), {"call_b"}) == later
    assert step_function_calls(_answer(page), {"call_a"}) == [Call("call_a", "lookup", "{}")]
    assert step_function_calls(_answer(page), {"call_a", "call_b"}) == []
    assert step_function_calls(_answer({"error": {"message": "no"}}), {"call_a"}) == []


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


def test_leases_are_apart_from_the_rows_and_lapse(database_url: str) -> None:
    db = Database(database_url)
    maps = ReplayMaps(db, "default", ttl_seconds=3600)
    maps.write({"call_1": Entry(candidate_id="call_c")})  # a row of the same ID stays apart
    maps.lease(["call_1"], 3600)
    maps.lease(["call_2"], -1)  # its worker stopped renewing it
    assert maps.read(["call_1", learning_key("call_1"), learning_key("call_2")]) == {
        "call_1": Entry(candidate_id="call_c"),
        learning_key("call_1"): Entry(),
    }
    maps.lease(["call_1"], -1)  # renewing moves the expiry
    assert maps.read(["call_1", learning_key("call_1")]) == {"call_1": Entry(candidate_id="call_c")}
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


def _lookup_thread(client: openai.OpenAI, orders: tuple[int, ...] = (7,)) -> tuple[str, str]:
    """(assistant, thread): a new thread whose run will ask for ``lookup``, one round per order."""
    assistant = client.beta.assistants.create(model="scripted", tools=[LOOKUP])  # type: ignore[list-item]
    rounds = " [[next]] ".join(f'[[call lookup {{"order": {o}}}]]' for o in orders)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": rounds}])
    return assistant.id, thread.id


def _answered_lookup(client: openai.OpenAI, run: Run) -> Run:
    """Submit the output of the ``lookup`` call ``run`` waits for, and poll the run on (to its
    end, or to its next round's calls)."""
    assert run.status == "requires_action"
    assert run.required_action is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    return client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "shipped"}],
        poll_interval_ms=20,
    )


def _fallback_reads(gateway: GatewayServer) -> float:
    """Managed-side reads of a run's calls (after ``stop()``, the worker's last report is in)."""
    metrics = gateway.gateway.metrics.registry
    return metrics.get_sample_value("homeport_gateway_shadow_fallback_reads_total") or 0.0


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
    sides = shadowing(two_homeports)
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

        assistant, thread = _lookup_thread(a)
        events = list(
            a.beta.threads.runs.create(thread_id=thread, assistant_id=assistant, stream=True)
        )
        run = events[-2].data if events[-1].event == "done" else events[-1].data
        assert run.status == "requires_action"  # type: ignore[union-attr]
        tool_call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
        finished = b.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,  # type: ignore[union-attr]
            thread_id=thread,
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
    gateway = start_gateway(**shadowing(two_homeports))
    with gateway.client() as client:
        assistant, thread = _lookup_thread(client)
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread, assistant_id=assistant, poll_interval_ms=20
        )
        assert _answered_lookup(client, run).status == "completed"
        assert "[managed]" in str(client.beta.threads.messages.list(thread_id=thread).data)
    gateway.stop()
    pairs = {p.request.path.rsplit("/", 1)[-1]: p for p in gateway.pairs()}
    assert set(pairs) == {"runs", "submit_tool_outputs"}  # the polls are not model calls
    _assert_candidate_run_took_the_outputs(pairs["submit_tool_outputs"], candidate)
    assert _fallback_reads(gateway) == 0  # the poll's copy learned the calls


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=2000)]
)
def test_polled_run_whose_poll_copy_was_lost_learns_the_calls_itself(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """The worker holding the poll answer that showed the calls is killed while its copy waits
    for the (slower) candidate. The tool outputs' copy, on the new worker, waits for the dead
    worker's lease to lapse, reads the primary's run steps with the client's own key and polls
    the candidate's run: the outputs are replayed long before ``timeout_seconds`` (which would
    outlast the drain on stop, leaving no pair). The run's second round, whose poll answer is
    queued behind that copy, does not hold it up, and is learned the usual way."""
    managed, candidate = two_homeports
    gateway = start_gateway(
        mode="shadow",
        managed={"base_url": managed.base_url},  # no key of its own: the client's passes through
        homeport={"base_url": candidate.base_url, "api_key": candidate.admin_key},
        shadow={"timeout_seconds": 600},
    )
    shadow = gateway.gateway.shadow
    maps = ReplayMaps(gateway.gateway.db, gateway.gateway.config.name, ttl_seconds=3600)
    client = openai.OpenAI(base_url=gateway.base_url, api_key=managed.api_key, max_retries=0)
    with client:
        assistant, thread = _lookup_thread(client, orders=(7, 8))
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread, assistant_id=assistant, poll_interval_ms=20
        )
        assert run.required_action is not None
        first_call = run.required_action.submit_tool_outputs.tool_calls[0]
        # The run's copy is finished and the worker holds the poll answer (it leased the call).
        held = {run.id, learning_key(first_call.id)}
        wait_for(lambda: held <= maps.read(held).keys(), "the worker to take the poll answer")
        dead = shadow.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)
        wait_for(lambda: shadow.pid not in (None, dead), "a new shadow worker")
        second = _answered_lookup(client, run)
        assert second.required_action is not None
        second_call = second.required_action.submit_tool_outputs.tool_calls[0]
        assert second_call.function.arguments == '{"order": 8}'
        assert _answered_lookup(client, second).status == "completed"
    # The candidate trails the primary by seconds here: let the copies finish before stopping.
    own_run = maps.read([run.id])[run.id].candidate_id or run.id
    with candidate.client(admin=True, max_retries=0) as direct:
        runs = direct.beta.threads.runs
        wait_for(lambda: runs.retrieve(own_run, thread_id=thread).status == "completed", "both")
    gateway.stop()
    submitted = [p for p in gateway.pairs() if p.request.path.endswith("/submit_tool_outputs")]
    assert [p.request.json()["tool_outputs"][0]["tool_call_id"] for p in submitted] == [
        first_call.id,
        second_call.id,
    ]
    for pair in submitted:
        _assert_candidate_run_took_the_outputs(pair, candidate)
    assert _fallback_reads(gateway) == 1  # the first round's calls; the second's were polled
    sink = gateway.gateway.config.shadow.jsonl_path
    assert sink is not None and managed.api_key not in sink.read_text()  # the key went unrecorded


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_polled_run_across_replicas_reaches_the_candidate(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """Created through one replica, polled and answered through the other: the replica that
    sees the run wait for tool outputs did not make its shadow copy."""
    _, candidate = two_homeports
    sides = shadowing(two_homeports)
    first, second = start_gateway(**sides), start_gateway(**sides)
    with first.client() as a, second.client() as b:
        assistant, thread = _lookup_thread(a)
        created = a.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
        run = b.beta.threads.runs.poll(created.id, thread_id=thread, poll_interval_ms=20)
        assert run.status == "requires_action"
        assert run.required_action is not None
        tool_call = run.required_action.submit_tool_outputs.tool_calls[0]
        a.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread,
            tool_outputs=[{"tool_call_id": tool_call.id, "output": "shipped"}],
        )
        finished = b.beta.threads.runs.poll(run.id, thread_id=thread, poll_interval_ms=20)
        assert finished.status == "completed"
    first.stop()
    second.stop()
    pairs = {p.request.path.rsplit("/", 1)[-1]: p for p in first.pairs()}
    assert set(pairs) == {"runs", "submit_tool_outputs"}
    assert second.pairs() == []  # polls are not model calls
    _assert_candidate_run_took_the_outputs(pairs["submit_tool_outputs"], candidate)
    assert _fallback_reads(first) == _fallback_reads(second) == 0


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_polled_run_seen_by_a_stalled_worker_learns_the_calls_elsewhere(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """The poll answer that shows the calls goes through a replica whose worker is stalled
    (stopped before it read the handoff: no lease anywhere); the tool outputs, through the other
    replica, learn the calls themselves. The stalled worker, resumed, skips the calls learned."""
    _, candidate = two_homeports
    sides = shadowing(two_homeports)
    first = start_gateway(**sides, shadow={"timeout_seconds": 600})
    second = start_gateway(**sides, shadow={"timeout_seconds": 600})
    stalled = second.gateway.shadow.pid
    assert stalled is not None
    with first.client() as a, second.client() as b:
        assistant, thread = _lookup_thread(a)
        created = a.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
        os.kill(stalled, signal.SIGSTOP)
        try:
            run = b.beta.threads.runs.poll(created.id, thread_id=thread, poll_interval_ms=20)
            assert _answered_lookup(a, run).status == "completed"
            maps = ReplayMaps(first.gateway.db, first.gateway.config.name, ttl_seconds=3600)
            wait_for(lambda: any(e.calls for e in maps.read([run.id]).values()), "the calls")
        finally:
            os.kill(stalled, signal.SIGCONT)
    first.stop()
    second.stop()
    pairs = {p.request.path.rsplit("/", 1)[-1]: p for p in first.pairs()}
    assert set(pairs) == {"runs", "submit_tool_outputs"}
    _assert_candidate_run_took_the_outputs(pairs["submit_tool_outputs"], candidate)
    assert (_fallback_reads(first), _fallback_reads(second)) == (1, 0)
    dropped = second.gateway.metrics.registry.get_sample_value(
        "homeport_gateway_shadow_dropped_total", {"reason": "conversation_not_mirrored"}
    )
    assert not dropped  # the resumed worker found the calls learned, and left the thread alone


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


@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=600)]
)
def test_next_turn_waits_for_the_slower_candidates_run(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """Polled runs on the quick primary end before the candidate's copies do: each next turn's
    message (and run) reaches the candidate while its previous run still runs there, which it
    refuses in OpenAI's words until that run ends; the copy waits and is sent again."""
    _, candidate = two_homeports
    gateway = start_gateway(**shadowing(two_homeports))
    turns = 3
    with gateway.client() as client:
        assistant = client.beta.assistants.create(model="scripted").id
        thread = client.beta.threads.create().id
        for turn in range(turns):
            client.beta.threads.messages.create(thread, role="user", content=f"turn {turn}")
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread, assistant_id=assistant, poll_interval_ms=20
            )
            assert run.status == "completed"
    gateway.stop()
    runs = [p for p in gateway.pairs() if p.request.path.endswith("/runs")]
    assert len(runs) == turns and all(p.candidate.ok for p in runs)
    own = candidate.client()
    wait_for(
        lambda: [r.status for r in own.beta.threads.runs.list(thread)] == ["completed"] * turns,
        "the candidate's last run",
    )
    mirrored = own.beta.threads.messages.list(thread).data  # user ones keep the primary's times
    said = sorted(m.content[0].text.value for m in mirrored if m.role == "user")  # type: ignore[union-attr]
    assert said == [f"turn {turn}" for turn in range(turns)]
    assert sum(m.role == "assistant" for m in mirrored) == turns


def test_a_request_the_primary_refuses_leaves_the_conversation_mirrored(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """A client's bad request (refused with a 400, nothing changed on the primary) is not
    copied, and the thread's later turns still are."""
    _, candidate = two_homeports
    gateway = start_gateway(**shadowing(two_homeports))
    with gateway.client() as client:
        assistant = client.beta.assistants.create(model="scripted").id
        thread = client.beta.threads.create().id
        with pytest.raises(openai.BadRequestError):
            client.beta.threads.messages.create(thread, role="system", content="refused")  # type: ignore[arg-type]
        client.beta.threads.messages.create(thread, role="user", content="after the refusal")
        run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
        assert run.status == "completed"
    gateway.stop()
    runs = [p for p in gateway.pairs() if p.request.path.endswith("/runs")]
    assert len(runs) == 1 and runs[0].candidate.ok, runs
    dropped = gateway.gateway.metrics.registry.get_sample_value(
        "homeport_gateway_shadow_dropped_total", {"reason": "conversation_not_mirrored"}
    )
    assert not dropped
    mirrored = candidate.client().beta.threads.messages.list(thread).data
    said = [m.content[0].text.value for m in mirrored if m.role == "user"]  # type: ignore[union-attr]
    assert said == ["after the refusal"]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=300)]
)
def test_next_rounds_poll_waits_for_the_previous_outputs_across_replicas(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """Two rounds of tool calls, polled through one replica and answered through the other: the
    second round's poll copy reaches the candidate before the other replica has replayed the
    first round's outputs, so the candidate's run still waits on the first round's calls. Those
    are not the second round's: the copy waits until the candidate asks for its next calls."""
    _, candidate = two_homeports
    sides = shadowing(two_homeports)
    first, second = start_gateway(**sides), start_gateway(**sides)
    with first.client() as a, second.client() as b:
        assistant, thread = _lookup_thread(a, orders=(7, 8))
        run = a.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
        for order in (7, 8):
            run = b.beta.threads.runs.poll(run.id, thread_id=thread, poll_interval_ms=20)
            assert run.required_action is not None
            call = run.required_action.submit_tool_outputs.tool_calls[0]
            assert call.function.arguments == f'{{"order": {order}}}'
            a.beta.threads.runs.submit_tool_outputs(
                run_id=run.id,
                thread_id=thread,
                tool_outputs=[{"tool_call_id": call.id, "output": "shipped"}],
            )
        assert b.beta.threads.runs.poll(run.id, thread_id=thread).status == "completed"
    first.stop()
    second.stop()
    submitted = [p for p in first.pairs() if p.request.path.endswith("/submit_tool_outputs")]
    assert len(submitted) == 2  # neither round diverged
    for pair in submitted:
        _assert_candidate_run_took_the_outputs(pair, candidate)
