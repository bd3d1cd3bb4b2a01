"""The engine's pure parts: the status table, context building, provider message mapping."""

from __future__ import annotations

import pytest

from homeport.engine import context
from homeport.engine.providers.anthropic import to_messages
from homeport.engine.status import (
    COMPLETED,
    IN_PROGRESS,
    QUEUED,
    REQUIRES_ACTION,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    transition,
)


def test_terminal_statuses_have_no_way_out() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        with pytest.raises(IllegalTransition, match=f"from status '{status}'"):
            transition(status, IN_PROGRESS)


def test_a_paused_run_resumes_through_the_queue() -> None:
    assert transition(REQUIRES_ACTION, QUEUED) == QUEUED
    with pytest.raises(IllegalTransition):
        transition(REQUIRES_ACTION, COMPLETED)


def test_every_target_is_a_known_status() -> None:
    for targets in TRANSITIONS.values():
        assert targets <= set(TRANSITIONS)


def _item(kind: str, **fields: object) -> dict[str, object]:
    return {"id": f"{kind}_1", "type": kind, "role": None, "content": [], "data": {}, **fields}


def test_both_protocols_content_forms_read_the_same() -> None:
    assistants = _item(
        "message",
        role="user",
        content=[{"type": "text", "text": {"value": "hi", "annotations": []}}],
    )
    responses = _item("message", role="user", content=[{"type": "input_text", "text": "hi"}])
    assert context.to_messages([assistants]) == context.to_messages([responses])


def test_tool_calls_join_and_results_follow_their_call() -> None:
    items = [
        _item("message", role="user", content=[{"type": "input_text", "text": "go"}]),
        _item("function_call", data={"call_id": "a", "name": "f", "arguments": "{}"}),
        _item("function_call", data={"call_id": "b", "name": "g", "arguments": "{}"}),
        _item("function_call_output", data={"call_id": "b", "output": "B"}),
        _item("function_call_output", data={"call_id": "a", "output": "A"}),
    ]
    messages = context.to_messages(items)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["a", "b"]
    assert [m["tool_call_id"] for m in messages[2:]] == ["a", "b"]


def test_truncation_keeps_whole_tool_rounds() -> None:
    messages = [
        {"role": "user", "content": "one"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "a", "content": "A"},
        {"role": "user", "content": "two"},
    ]
    assert context.truncate(messages, ("last_messages", 2), None) == messages[3:]
    assert context.truncate(messages, ("auto", None), 6) == messages[3:]
    assert context.truncate(messages, ("disabled", None), 1) == messages


def test_anthropic_mapping_merges_turns_and_tool_results() -> None:
    system, turns = to_messages(
        [
            {"role": "system", "content": "be kind"},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "checking",
                "tool_calls": [
                    {"id": "t1", "function": {"name": "w", "arguments": '{"c": 1}'}},
                    {"id": "t2", "function": {"name": "w", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "sun"},
            {"role": "tool", "tool_call_id": "t2", "content": "rain"},
        ]
    )
    assert system == "be kind"
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "w",
        "input": {"c": 1},
    }
    assert turns[1]["content"][2]["input"] == {}
    assert [b["tool_use_id"] for b in turns[2]["content"]] == ["t1", "t2"]
