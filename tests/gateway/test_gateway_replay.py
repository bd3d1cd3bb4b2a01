"""Tool-output replay: the candidate gets the client's outputs under its own call IDs."""

from __future__ import annotations

import time

import orjson

from homeport.gateway.replay import (
    Call,
    function_calls,
    match_calls,
    rewrite_tool_outputs,
    tool_output_ids,
)
from homeport.gateway.seams import CapturedResponse, Upstream


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
