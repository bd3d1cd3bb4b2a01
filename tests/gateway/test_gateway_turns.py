"""A conversation's shadow copies in the client's order across replicas, and a lost copy known
as lost instead of waited for: the turns workers hold (``gateway_turns``), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable

import pytest

from homeport.gateway.replaymaps import ReplayMaps
from homeport.gateway.turns import Peers, Turn, TurnLedger, TurnOrder
from homeport.store.db import Database
from homeport.testing.scripted_model import ScriptedModelOptions
from tests.gateway.conftest import GatewayFactory, GatewayServer, shadowing, wait_for
from tests.gateway.test_gateway_replay import _lookup_thread
from tests.support.servers import HomeportServer


def test_ledger_holds_releases_and_lapses(database_url: str) -> None:
    db = Database(database_url)
    ledger = TurnLedger(db, "default")
    peers = ledger.sync("worker_a", [], [], writes=False)  # alone
    assert (peers.alive, peers.alone) == (0, 0)
    peers = ledger.sync("worker_b", [Turn("worker_b.0", "thread_1", 10.0)], [], writes=True)
    assert (peers.alive, peers.alone) == (1, 1)  # worker_a has not seen worker_b yet
    assert ledger.earlier("thread_1", 10.5)
    assert not ledger.earlier("thread_1", 10.0)  # not before itself
    assert not ledger.earlier("thread_2", 11.0)
    assert not TurnLedger(db, "other").earlier("thread_1", 11.0)  # per gateway
    assert ledger.sync("worker_a", [], [], writes=True) == Peers(1, 0)
    assert ledger.sync("worker_b", [], ["worker_b.0"], writes=True) == Peers(1, 0)
    assert not ledger.earlier("thread_1", 10.5)
    dead = [Turn("worker_c.0", "thread_1", 9.0)]  # a worker that stopped renewing
    ledger.sync("worker_c", dead, [], writes=True, seconds=-1)
    assert not ledger.earlier("thread_1", 10.5)
    assert ledger.sync("worker_a", [], [], writes=True) == Peers(1, 0)  # worker_c's lapsed
    ledger.sync("worker_b", [Turn("worker_b.1", "thread_1", 12.0)], [], writes=True)
    ledger.leave("worker_b")  # stopping: its turns and presence go at once
    assert not ledger.earlier("thread_1", 13.0)
    assert ledger.sync("worker_a", [], [], writes=True) == Peers(0, 0)
    assert ledger.expire() == 2  # worker_c's presence and turn
    db.dispose()


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 30
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_worker_alone_writes_no_turns_until_another_appears(database_url: str) -> None:
    db = Database(database_url)
    ledger = TurnLedger(db, "default")

    async def scenario() -> None:
        order = TurnOrder(ledger)
        order.start()
        await _until(
            lambda: _negated(order.earlier_held("thread_2", 11.0)), "the worker to find itself"
        )
        turn = order.hold("thread_1", 10.0)
        assert await order.earlier_held("thread_1", 11.0)  # held here
        behind = order.hold("thread_1", 9.0)  # handed off later, though the client sent it first
        assert not await order.earlier_held("thread_1", 10.0, turn.queued)  # no waiting on it
        order.release(behind)
        await asyncio.sleep(0)  # the sync task's turn: alone, it writes nothing
        assert not ledger.earlier("thread_1", 11.0)
        ledger.sync("worker_other", [Turn("worker_other.0", "thread_2", 5.0)], [], writes=True)
        await _until(
            lambda: asyncio.to_thread(ledger.earlier, "thread_1", 11.0), "the held turn written"
        )
        assert await order.earlier_held("thread_2", 6.0)  # the other worker's turn
        assert not await order.earlier_held("thread_2", 5.0)
        order.release(turn)
        await _until(
            lambda: _negated(asyncio.to_thread(ledger.earlier, "thread_1", 11.0)), "the release"
        )
        await order.stop()

    asyncio.run(scenario())
    db.dispose()


async def _negated(check: Awaitable[bool]) -> bool:
    return not await check


def _dropped(gateway: GatewayServer, reason: str) -> float:
    metrics = gateway.gateway.metrics.registry
    value = metrics.get_sample_value("homeport_gateway_shadow_dropped_total", {"reason": reason})
    return value or 0.0


def test_lost_run_create_copy_ends_its_tool_outputs_copy(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """The run's create copy dies with its worker (the handoff was still in the pipe); the
    client's tool outputs for that run are dropped as ``create_copy_lost`` once nothing can
    bring the candidate's run, long before ``timeout_seconds``; the thread is not mirrored on."""
    gateway = start_gateway(**shadowing(two_homeports), shadow={"timeout_seconds": 600})
    shadow = gateway.gateway.shadow
    maps = ReplayMaps(gateway.gateway.db, gateway.gateway.config.name, ttl_seconds=3600)
    with gateway.client() as client:
        assistant, thread = _lookup_thread(client)
        wait_for(lambda: thread in maps.read([thread]), "the thread's copy")
        worker = shadow.pid
        assert worker is not None
        os.kill(worker, signal.SIGSTOP)
        try:
            events = list(
                client.beta.threads.runs.create(
                    thread_id=thread, assistant_id=assistant, stream=True
                )
            )
        finally:
            os.kill(worker, signal.SIGKILL)
        wait_for(lambda: shadow.pid not in (None, worker), "a new shadow worker")
        run = events[-2].data if events[-1].event == "done" else events[-1].data
        assert run.status == "requires_action"  # type: ignore[union-attr]
        call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,  # type: ignore[union-attr]
            thread_id=thread,
            tool_outputs=[{"tool_call_id": call.id, "output": "shipped"}],
        )
        wait_for(lambda: _dropped(gateway, "create_copy_lost") == 1, "the copy to give up")
        wait_for(lambda: maps.read([thread])[thread].broken, "the thread marked unmirrored")
    gateway.stop()
    assert _dropped(gateway, "conversation_not_mirrored") == 0
    assert not [p for p in gateway.pairs() if p.request.path.endswith("/submit_tool_outputs")]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "candidate_options", [ScriptedModelOptions(persona="homeport", latency_ms=200)]
)
def test_turns_reach_the_candidate_in_the_clients_order_across_replicas(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """A message's copy waits in one replica's queue (its one copy slot busy for seconds) when
    the client's next turn, a run, reaches the other replica: the run's copy waits for the
    message's, so the candidate's run answers the message (instead of running first)."""
    _, candidate = two_homeports
    sides = shadowing(two_homeports)
    behind = start_gateway(**sides, shadow={"concurrency": 1})
    ahead = start_gateway(**sides)
    ledger = TurnLedger(behind.gateway.db, behind.gateway.config.name)
    maps = ReplayMaps(behind.gateway.db, behind.gateway.config.name, ttl_seconds=3600)
    with behind.client() as a, ahead.client() as b:
        assistant = b.beta.assistants.create(model="scripted").id
        thread = b.beta.threads.create().id
        wait_for(lambda: thread in maps.read([thread]), "the thread's copy")
        wait_for(lambda: not ledger.earlier(thread, time.time()), "its turn released")
        a.responses.create(model="scripted", input="[[slow 3000]] hold the copy slot")
        a.beta.threads.messages.create(thread, role="user", content="first question")
        wait_for(lambda: ledger.earlier(thread, time.time()), "the message's turn held")
        run = b.beta.threads.runs.create_and_poll(
            thread_id=thread, assistant_id=assistant, poll_interval_ms=20
        )
        assert run.status == "completed"
    with candidate.client(admin=True, max_retries=0) as own:
        runs = own.beta.threads.runs
        wait_for(
            lambda: [r.status for r in runs.list(thread_id=thread)] == ["completed"],
            "the candidate's run",
        )
        said = [
            (m.role, m.content[0].text.value)  # type: ignore[union-attr]
            for m in own.beta.threads.messages.list(thread_id=thread, order="asc").data
        ]
    behind.stop()
    ahead.stop()
    assert ("user", "first question") in said
    answer = next(text for role, text in said if role == "assistant")
    assert answer.startswith("[homeport]") and "first question" in answer
    assert _dropped(behind, "turn_order_timeout") == _dropped(ahead, "turn_order_timeout") == 0
