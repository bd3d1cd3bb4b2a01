"""Captured answers of every protocol, JSON and streamed, read as ``Answer`` objects."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from homeport.compare.answers import ToolCall
from homeport.compare.wire import answer_of, context_of
from homeport.gateway.seams import CapturedRequest, CapturedResponse, Upstream


def captured(
    body: Any = None,
    *,
    events: list[Any] | None = None,
    status: int | None = 200,
    error: str | None = None,
) -> CapturedResponse:
    if events is not None:
        raw = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    else:
        raw = orjson.dumps(body) if body is not None else b""
    return CapturedResponse(
        upstream=Upstream.HOMEPORT,
        status=status,
        headers=(),
        body=raw,
        error=error,
        started_at=0.0,
        ttft_seconds=0.05 if events else None,
        total_seconds=0.2,
        streamed=events is not None,
    )


RESPONSE = {
    "object": "response",
    "status": "completed",
    "usage": {"input_tokens": 9, "output_tokens": 4},
    "output": [
        {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ],
}


@pytest.mark.parametrize(
    ("response", "text", "calls", "tokens"),
    [
        (captured(RESPONSE), "Hi", [ToolCall("f", "{}")], (9, 4)),
        (
            captured(
                events=[
                    {
                        "type": "response.created",
                        "response": {**RESPONSE, "status": "in_progress", "output": []},
                    },
                    {"type": "response.completed", "response": RESPONSE},
                ]
            ),
            "Hi",
            [ToolCall("f", "{}")],
            (9, 4),
        ),
        (
            captured(
                {
                    "object": "chat.completion",
                    "choices": [
                        {
                            "message": {
                                "content": "Hello",
                                "tool_calls": [{"function": {"name": "g", "arguments": "{}"}}],
                            }
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
                }
            ),
            "Hello",
            [ToolCall("g", "{}")],
            (3, 1),
        ),
        (
            captured(
                events=[
                    {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "Hel"}}]},
                    {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "lo"}}]},
                    {
                        "object": "chat.completion.chunk",
                        "choices": [
                            {
                                "delta": {
                                    "tool_calls": [
                                        {"index": 0, "function": {"name": "g", "arguments": '{"a"'}}
                                    ]
                                }
                            }
                        ],
                    },
                    {
                        "object": "chat.completion.chunk",
                        "choices": [
                            {
                                "delta": {
                                    "tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]
                                }
                            }
                        ],
                    },
                    {
                        "object": "chat.completion.chunk",
                        "choices": [],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                    },
                ]
            ),
            "Hello",
            [ToolCall("g", '{"a": 1}')],
            (3, 2),
        ),
        (
            captured(
                events=[
                    {"object": "thread.run", "status": "in_progress"},
                    {
                        "object": "thread.message",
                        "role": "assistant",
                        "status": "completed",
                        "content": [
                            {"type": "text", "text": {"value": "Done.", "annotations": []}}
                        ],
                    },
                    {
                        "object": "thread.run",
                        "status": "completed",
                        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
                    },
                ]
            ),
            "Done.",
            [],
            (5, 1),
        ),
        (
            captured(
                {
                    "object": "thread.run",
                    "status": "requires_action",
                    "required_action": {
                        "submit_tool_outputs": {
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "function": {
                                        "name": "get_order_status",
                                        "arguments": '{"order_id": "LU-1"}',
                                    },
                                }
                            ]
                        }
                    },
                }
            ),
            "",
            [ToolCall("get_order_status", '{"order_id": "LU-1"}')],
            (None, None),
        ),
    ],
)
def test_answers_of_each_protocol(
    response: CapturedResponse,
    text: str,
    calls: list[ToolCall],
    tokens: tuple[int | None, int | None],
) -> None:
    answer = answer_of(response)
    assert answer is not None
    assert (answer.text, list(answer.tool_calls)) == (text, calls)
    assert (answer.input_tokens, answer.output_tokens) == tokens
    assert answer.error is None and answer.latency_s == 0.2


def test_failures_and_answers_not_yet_given() -> None:
    failed = answer_of(captured({"error": {"message": "boom"}}, status=500))
    assert failed is not None and failed.error == "http 500"
    dropped = answer_of(captured(status=None, error="timeout"))
    assert dropped is not None and dropped.error == "timeout"
    run_failed = answer_of(
        captured(
            {
                "object": "thread.run",
                "status": "failed",
                "last_error": {"code": "rate_limit_exceeded"},
            }
        )
    )
    assert run_failed is not None and run_failed.error == "rate_limit_exceeded"
    assert answer_of(captured({"object": "thread.run", "status": "queued"})) is None


def test_context_of_requests() -> None:
    responses = CapturedRequest(
        "POST",
        "/v1/responses",
        "",
        (),
        orjson.dumps(
            {
                "model": "gpt-4o",
                "input": [{"role": "user", "content": "Hi there"}],
                "text": {"format": {"type": "json_object"}},
                "tools": [{"type": "function"}],
            }
        ),
    )
    context = context_of(responses)
    assert (context.question, context.response_format, context.agent_id) == (
        "Hi there",
        {"type": "json_object"},
        "gpt-4o",
    )
    run = CapturedRequest(
        "POST",
        "/v1/threads/thread_1/runs",
        "",
        (),
        orjson.dumps(
            {"assistant_id": "asst_1", "additional_messages": [{"role": "user", "content": "Yo"}]}
        ),
    )
    assert (context_of(run).question, context_of(run).agent_id) == ("Yo", "asst_1")
    assert context_of(CapturedRequest("GET", "/v1/models", "", (), b"")).question == ""
