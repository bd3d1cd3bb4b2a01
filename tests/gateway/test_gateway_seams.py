"""The seams' records survive a round trip through JSON (the sink's storage format)."""

from __future__ import annotations

import orjson

from homeport.gateway.seams import (
    CapturedRequest,
    CapturedResponse,
    Mode,
    ShadowPair,
    Upstream,
)


def test_pair_round_trip_keeps_text_and_binary_bodies() -> None:
    request = CapturedRequest(
        "POST", "/v1/chat/completions", "", (("content-type", "x"),), b'{"model": "m"}'
    )
    primary = CapturedResponse(
        Upstream.MANAGED, 200, (("a", "b"),), b"\xff\x00binary", None, 1.5, None, 0.2, False
    )
    candidate = CapturedResponse(
        Upstream.HOMEPORT, None, (), b"", "ConnectError", 1.6, None, 0.01, False
    )
    pair = ShadowPair(
        "pair_1",
        2.0,
        Mode.SHADOW,
        "shadow",
        "thread_1",
        Upstream.MANAGED,
        request,
        request,
        primary,
        candidate,
    )
    again = ShadowPair.from_dict(orjson.loads(orjson.dumps(pair.to_dict())))
    assert again == pair
    assert again.request.json() == {"model": "m"}
    assert not again.candidate.ok and again.primary.ok


def test_events_parse_sse_data_lines() -> None:
    body = b'data: {"a": 1}\n\nevent: x\ndata: {"b": 2}\n\ndata: [DONE]\n\n'
    answer = CapturedResponse(Upstream.MANAGED, 200, (), body, None, 0.0, 0.01, 0.02, True)
    assert answer.events() == [{"a": 1}, {"b": 2}]
