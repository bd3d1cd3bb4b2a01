"""Shadow mode under faults, and tool outputs replayed into the candidate."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from homeport.gateway import shadow_worker
from homeport.testing.scripted_model import ScriptedModelOptions, ScriptedModelServer
from tests.gateway.conftest import GatewayFactory, wait_for
from tests.support.servers import HomeportServer, server_settings


def _ask_many(gateway_client, count: int, prefix: str = "question") -> None:  # type: ignore[no-untyped-def]
    """Every answer must be the managed side's, with no error (every fourth one streamed)."""
    for i in range(count):
        messages = [{"role": "user", "content": f"{prefix} {i}"}]
        if i % 4 == 0:
            stream = gateway_client.chat.completions.create(
                model="scripted", messages=messages, stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        else:
            text = (
                gateway_client.chat.completions.create(model="scripted", messages=messages)
                .choices[0]
                .message.content
            )
        assert text.startswith("[managed]")


def _metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(url + "/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    braces = rf"\{{[^}}]*{re.escape(wanted)}[^}}]*\}}" if wanted else r"(?:\{[^}]*\})?"
    pattern = rf"^{name}{braces} (\S+)$"
    return sum(float(m) for m in re.findall(pattern, text, re.MULTILINE))


@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", failure_rate=0.5, seed=7)]
)
def test_candidate_failing_half_its_calls_is_invisible(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(mode="shadow")
    with gateway.client() as client:
        _ask_many(client, 60)
    gateway.stop()
    pairs = gateway.pairs()
    assert len(pairs) == 60
    failed = [p for p in pairs if not p.candidate.ok]
    assert 10 < len(failed) < 50
    assert all(p.candidate.status == 500 for p in failed)
    assert all(p.primary.ok for p in pairs)


def test_a_pair_keeps_the_primary_answers_headers(start_gateway: GatewayFactory) -> None:
    """The proxy keeps an answer's headers only for a copy: a shadow pair must still have them."""
    gateway = start_gateway(mode="shadow")
    with gateway.client() as client:
        _ask_many(client, 4)  # the first one streamed
    gateway.stop()
    types = {
        p.request.json()["messages"][0]["content"]: dict(p.primary.headers).get("content-type", "")
        for p in gateway.pairs()
    }
    assert types["question 0"].startswith("text/event-stream")
    assert all(types[f"question {i}"].startswith("application/json") for i in (1, 2, 3))
    assert all("homeport-upstream" not in dict(p.primary.headers) for p in gateway.pairs())


@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=2000)]
)
def test_slow_candidate_times_out_in_the_background(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(mode="shadow", shadow={"timeout_seconds": 0.2})
    with gateway.client() as client:
        _ask_many(client, 12)
    gateway.stop()
    pairs = gateway.pairs()
    assert len(pairs) == 12
    assert all(p.candidate.error == "shadow timeout after 0.2 s" for p in pairs)


@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=300)]
)
def test_full_shadow_queue_drops_copies_not_requests(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        mode="shadow",
        shadow={"queue_size": 1, "concurrency": 1, "timeout_seconds": 5, "sink": "none"},
    )
    with gateway.client() as client:
        _ask_many(client, 30)
    # The shadow worker reports its drops to the proxy's metrics a moment later.
    wait_for(
        lambda: _metric(gateway.url, "homeport_gateway_shadow_dropped_total", reason="queue_full"),
        "the shadow worker to report dropped copies",
    )
    assert _metric(gateway.url, "homeport_gateway_errors_total", role="served") == 0


@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=5000)]
)
def test_copies_are_in_flight_together_as_answers_take_seconds(
    start_gateway: GatewayFactory, candidate_model: ScriptedModelServer
) -> None:
    """With the default settings, 100 copies of a model answering in seconds are all sent
    before the first is answered (Little's law: copies in flight = rate x answer time)."""
    gateway = start_gateway(mode="shadow")
    with gateway.client() as client:
        _ask_many(client, 100)
    received = candidate_model.model.requests
    wait_for(lambda: len(received) >= 100, "every copy to reach the candidate")
    assert _metric(gateway.url, "homeport_gateway_requests_total", role="shadow") == 0
    gateway.stop()
    assert len(gateway.pairs()) == 100


def test_candidate_killed_mid_shadow(
    start_gateway: GatewayFactory, candidate_model: ScriptedModelServer
) -> None:
    gateway = start_gateway(mode="shadow")
    with gateway.client() as client:
        _ask_many(client, 10, "before")
        candidate_model.stop()
        _ask_many(client, 10, "after")
    gateway.stop()
    pairs = gateway.pairs()
    assert len(pairs) == 20
    assert all(p.primary.ok for p in pairs)
    after = [p for p in pairs if "after" in p.request.body.decode()]
    assert len(after) == 10
    assert all(p.candidate.status is None and p.candidate.error for p in after)


def test_tool_outputs_are_replayed_into_the_candidate(
    start_gateway: GatewayFactory,
    tmp_path: Path,
    managed_model: ScriptedModelServer,
    candidate_model: ScriptedModelServer,
) -> None:
    servers = [
        HomeportServer(server_settings(f"sqlite:///{tmp_path / n}.db", tmp_path / n, m)).start()
        for n, m in (("managed", managed_model), ("homeport", candidate_model))
    ]
    try:
        managed, candidate = servers
        gateway = start_gateway(
            mode="shadow",
            managed={"base_url": managed.base_url, "api_key": managed.api_key},
            homeport={"base_url": candidate.base_url, "api_key": candidate.admin_key},
        )
        tools = [
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
        with gateway.client() as client:
            first = client.responses.create(
                model="scripted",
                tools=tools,
                input='weather? [[call get_weather {"city": "Oslo"}]]',
            )
            call = next(o for o in first.output if o.type == "function_call")
            second = client.responses.create(
                model="scripted",
                tools=tools,
                previous_response_id=first.id,
                input=[
                    {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
                ],
            )
            assert second.output_text.startswith("[managed]")
        gateway.stop()
    finally:
        for server in servers:
            server.stop()
    pairs = gateway.pairs()
    assert len(pairs) == 2
    replayed = pairs[1]
    assert replayed.candidate.ok, replayed.candidate.body
    sent = replayed.candidate_request.json()
    assert sent["previous_response_id"] == pairs[0].candidate.json()["id"]
    candidate_call = next(
        o for o in pairs[0].candidate.json()["output"] if o["type"] == "function_call"
    )
    assert sent["input"][0]["call_id"] == candidate_call["call_id"]
    assert "sunny" in str(replayed.candidate.json()["output"])


def test_killed_shadow_worker_is_replaced_and_clients_see_nothing(
    start_gateway: GatewayFactory,
) -> None:
    gateway = start_gateway(mode="shadow")
    shadow = gateway.gateway.shadow
    with gateway.client() as client:
        _ask_many(client, 5, "before")
        first = shadow.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _ask_many(client, 10, "during")  # dropped as worker_down, or copied by the new worker
        wait_for(lambda: shadow.pid not in (None, first), "a new shadow worker")
        _ask_many(client, 5, "after")
    assert _metric(gateway.url, "homeport_gateway_errors_total", role="served") == 0
    gateway.stop()
    after = [p for p in gateway.pairs() if b"after" in p.request.body]
    assert len(after) == 5 and all(p.candidate.ok for p in after)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
@pytest.mark.parametrize("priority", ["idle", "low"])
def test_shadow_worker_yields_the_cpu_to_the_proxy(
    start_gateway: GatewayFactory, priority: str
) -> None:
    """At "idle" the worker and every thread it starts run at SCHED_IDLE; at "low", nice +10."""
    gateway = start_gateway(mode="shadow", shadow={"priority": priority})
    with gateway.client() as client:
        _ask_many(client, 5)
    worker = gateway.gateway.shadow.pid
    assert worker is not None
    wait_for(lambda: len(gateway.pairs()) == 5, "the pairs, written from the worker's threads")
    threads = [int(t.name) for t in Path(f"/proc/{worker}/task").iterdir()]
    assert len(threads) > 1
    policies = {os.sched_getscheduler(thread) for thread in threads}
    if priority == "idle":
        assert policies == {os.SCHED_IDLE}
    else:
        assert os.SCHED_IDLE not in policies
        assert os.getpriority(os.PRIO_PROCESS, worker) == os.getpriority(os.PRIO_PROCESS, 0) + 10
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the proxy's (this test's) own
    gateway.stop()


def test_shadow_worker_refused_sched_idle_runs_niced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where the policy is refused (a seccomp profile) the worker says so and runs at nice +10."""

    def refused(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    niced: list[int] = []
    monkeypatch.setattr(shadow_worker.os, "sched_setscheduler", refused)
    monkeypatch.setattr(shadow_worker.os, "nice", niced.append)
    shadow_worker.yield_cpu("idle")
    assert niced == [shadow_worker.NICENESS]
    assert "runs at nice +10, not SCHED_IDLE: [Errno 1] Operation not permitted" in caplog.text


def test_a_worker_without_cpu_shows_in_the_handoff_backlog(start_gateway: GatewayFactory) -> None:
    """A worker that gets no CPU (stopped here) reads nothing: the copies it has not read show in
    ``homeport_gateway_shadow_handoff_bytes``, the clients see nothing, and it catches up after."""
    gateway = start_gateway(mode="shadow")
    backlog = "homeport_gateway_shadow_handoff_bytes"
    worker = gateway.gateway.shadow.pid
    assert worker is not None
    with gateway.client() as client:
        _ask_many(client, 1, "warm")
        os.kill(worker, signal.SIGSTOP)
        try:
            _ask_many(client, 8, "x" * 50_000)  # 400 kB of copies: more than the pipe holds
            assert _metric(gateway.url, backlog) > 100_000
        finally:
            os.kill(worker, signal.SIGCONT)
        wait_for(lambda: _metric(gateway.url, backlog) == 0, "the worker to read its backlog")
    assert _metric(gateway.url, "homeport_gateway_errors_total", role="served") == 0
    gateway.stop()
    assert len(gateway.pairs()) == 9
