"""The answers' metrics: plain counters rendered as Prometheus series when scraped, and the
token counts read from answers."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from homeport.gateway.handoff import RECORDS_PER_LINE, Reports, apply
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.seams import Role, Upstream
from homeport.gateway.upstream import usage

MANAGED, HOMEPORT = Upstream.MANAGED, Upstream.HOMEPORT
SERVED, SHADOW = Role.SERVED, Role.SHADOW


def _observed() -> GatewayMetrics:
    metrics = GatewayMetrics("replica-1")
    chat = {"route": "chat.completions", "side": MANAGED, "role": SERVED}
    metrics.observe(**chat, status=200, seconds=0.003, ttft=None, input_tokens=12, output_tokens=7)
    metrics.observe(**chat, status=200, seconds=0.3, ttft=0.02, input_tokens=3)
    runs = {"route": "threads.runs", "side": HOMEPORT, "role": SHADOW}
    metrics.observe(**runs, status=None, seconds=1.5, ttft=None)
    metrics.observe(**runs, status=503, seconds=0.5, ttft=0.2, output_tokens=4)
    metrics.observe(**runs, status=200, seconds=0.004, ttft=0.001)
    return metrics


def _sample(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_answers_are_counted_by_side_role_route_and_status() -> None:
    metrics = _observed()
    requests = "homeport_gateway_requests_total"
    served = {"side": "managed", "role": "served", "route": "chat.completions"}
    assert _sample(metrics, requests, **served, status="200") == 2
    shadow = {"side": "homeport", "role": "shadow", "route": "threads.runs"}
    assert _sample(metrics, requests, **shadow, status="none") == 1
    assert _sample(metrics, requests, **shadow, status="503") == 1
    assert _sample(metrics, requests, **shadow, status="200") == 1
    errors = "homeport_gateway_errors_total"
    assert _sample(metrics, errors, side="managed", role="served") == 0
    assert _sample(metrics, errors, side="homeport", role="shadow") == 2
    tokens = "homeport_gateway_tokens_total"
    assert _sample(metrics, tokens, side="managed", role="served", kind="input") == 15
    assert _sample(metrics, tokens, side="managed", role="served", kind="output") == 7
    assert _sample(metrics, tokens, side="homeport", role="shadow", kind="output") == 4
    assert _sample(metrics, tokens, side="homeport", role="shadow", kind="input") is None


def test_latency_and_ttft_are_cumulative_histograms() -> None:
    metrics = _observed()
    latency = "homeport_gateway_upstream_seconds"
    served = {"side": "managed", "role": "served"}
    assert _sample(metrics, f"{latency}_bucket", **served, le="0.001") == 0
    assert _sample(metrics, f"{latency}_bucket", **served, le="0.005") == 1
    assert _sample(metrics, f"{latency}_bucket", **served, le="0.25") == 1
    assert _sample(metrics, f"{latency}_bucket", **served, le="0.5") == 2
    assert _sample(metrics, f"{latency}_bucket", **served, le="+Inf") == 2
    assert _sample(metrics, f"{latency}_count", **served) == 2
    assert _sample(metrics, f"{latency}_sum", **served) == pytest.approx(0.303)
    ttft = "homeport_gateway_ttft_seconds"
    shadow = {"side": "homeport", "role": "shadow"}
    assert _sample(metrics, f"{ttft}_bucket", **shadow, le="0.001") == 1
    assert _sample(metrics, f"{ttft}_bucket", **shadow, le="0.25") == 2
    assert _sample(metrics, f"{ttft}_count", **shadow) == 2
    assert _sample(metrics, f"{ttft}_sum", **shadow) == pytest.approx(0.201)
    assert _sample(metrics, f"{ttft}_count", **served) == 1
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE homeport_gateway_upstream_seconds histogram" in text
    assert "# TYPE homeport_gateway_requests_total counter" in text


def test_a_stats_window_closes_but_the_scraped_totals_go_on() -> None:
    metrics = _observed()
    stats = {(s.side, s.role): s for s in metrics.take_window("shadow")}
    shadow = stats[(HOMEPORT, SHADOW)]
    assert (shadow.requests, shadow.errors, shadow.output_tokens) == (3, 2, 4)
    assert sum(shadow.ttft_buckets) == 2
    assert stats[(MANAGED, SERVED)].latency_buckets[2] == 1  # 3 ms: the (2.5, 5] ms bucket
    assert metrics.take_window("shadow") == []
    metrics.observe(
        side=MANAGED, role=SERVED, route="chat.completions", status=200, seconds=0.01, ttft=None
    )
    assert [s.requests for s in metrics.take_window("canary-5")] == [1]
    requests = "homeport_gateway_requests_total"
    labels = {"side": "managed", "role": "served", "route": "chat.completions", "status": "200"}
    assert _sample(metrics, requests, **labels) == 3


CHAT = (
    b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": '
    b'{"role": "assistant", "content": "the \\"usage\\": {\\"prompt_tokens\\": 99} of it"}, '
    b'"finish_reason": "stop"}], "usage": {"prompt_tokens": 12, "completion_tokens": 7, '
    b'"total_tokens": 19, "prompt_tokens_details": {"cached_tokens": 4}, '
    b'"completion_tokens_details": {"reasoning_tokens": 2}}, "service_tier": "default", '
    b'"system_fingerprint": null}'
)
RESPONSE = (
    b'{"id": "resp_1", "object": "response", "output": [{"type": "message", "content": '
    b'[{"type": "output_text", "text": "usage"}]}], "usage": {"input_tokens": 30, '
    b'"input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5, '
    b'"output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 35}, "user": null, '
    b'"metadata": {"input_tokens": "1000"}}'
)
STREAM = (
    b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'
    b'data: {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 2}}\n\n'
    b"data: [DONE]\n\n"
)
RESPONSE_STREAM = (
    b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta"}\n\n'
    b'event: response.completed\ndata: {"type": "response.completed", "response": '
    b'{"id": "resp_2", "usage": {"input_tokens": 11, "output_tokens": 3}}}\n\n'
)


@pytest.mark.parametrize(
    ("body", "streamed", "expected"),
    [
        (CHAT, False, (12, 7)),
        (RESPONSE, False, (30, 5)),
        (STREAM, True, (8, 2)),
        (RESPONSE_STREAM, True, (11, 3)),
        (STREAM.replace(b"\n", b"\r\n"), True, (8, 2)),
        (  # a later chunk's null usage and a text that names the word do not hide the counts
            STREAM[:-14] + b'data: {"choices": [{"delta": {"content": "\\"usage\\""}}], '
            b'"usage": null}\n\ndata: [DONE]\n\n',
            True,
            (8, 2),
        ),
        (b'data: {"usage": null}\n\ndata: [DONE]\n\n', True, (0, 0)),
        (b'{"id": "resp_3", "usage": null, "metadata": {"input_tokens": 5}}', False, (0, 0)),
        (b'{"id": "chatcmpl-2", "choices": []}', False, (0, 0)),
        (b'{"usage": {"prompt_tokens": 1, "completion_tokens": ', False, (0, 0)),
        (b"<html>Bad Gateway</html>", False, (0, 0)),
    ],
)
def test_token_counts_are_read_from_the_answer(
    body: bytes, streamed: bool, expected: tuple[int, int]
) -> None:
    assert usage(body, streamed) == expected


def test_the_shadow_workers_report_goes_up_in_bounded_lines_and_lands_in_the_metrics() -> None:
    reports = Reports()
    reports.observed("chat.completions", 200, 0.004, 0.001, 5, 2)
    for _ in range(RECORDS_PER_LINE):
        reports.observed("chat.completions", None, 0.3, None, 0, 0)
    reports.dropped("queue_full")
    reports.dropped("queue_full", 2)
    reports.written(3)
    reports.depth(7)
    lines = reports.take().splitlines(keepends=True)
    assert len(lines) == 2 and all(len(line) < 64 << 10 for line in lines)
    assert reports.take() == b""  # taken: nothing is sent twice
    metrics = GatewayMetrics("replica-1")
    for line in lines:
        apply(metrics, line)
    shadow = {"side": "homeport", "role": "shadow", "route": "chat.completions"}
    requests = "homeport_gateway_requests_total"
    assert _sample(metrics, requests, **shadow, status="200") == 1
    assert _sample(metrics, requests, **shadow, status="none") == RECORDS_PER_LINE
    tokens = "homeport_gateway_tokens_total"
    assert _sample(metrics, tokens, side="homeport", role="shadow", kind="input") == 5
    dropped = "homeport_gateway_shadow_dropped_total"
    assert _sample(metrics, dropped, reason="queue_full") == 3
    assert _sample(metrics, "homeport_gateway_pairs_written_total") == 3
    assert _sample(metrics, "homeport_gateway_shadow_queue_depth") == 7
