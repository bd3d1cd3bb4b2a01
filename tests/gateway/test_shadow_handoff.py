"""The proxy's hand-off to its shadow worker: the frames of one loop turn go out in one write,
in order, and what cannot be handed is dropped and counted, never waited for."""

from __future__ import annotations

import asyncio

from homeport.gateway.config import GatewayConfig
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.shadow_process import HANDOFF_BYTES, ShadowProcess


class _Transport:
    def __init__(self) -> None:
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered


class _Stdin:
    """The worker's stdin as the proxy sees it: what was written, in which writes."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed


def _handoff() -> tuple[ShadowProcess, _Stdin, GatewayMetrics]:
    config = GatewayConfig(
        managed={"base_url": "http://127.0.0.1:9/v1"},
        homeport={"base_url": "http://127.0.0.1:9/v1"},
    )
    metrics = GatewayMetrics("replica-1")
    process = ShadowProcess(config, metrics)
    stdin = _Stdin()
    process._stdin = stdin  # type: ignore[assignment]
    return process, stdin, metrics


def _dropped(metrics: GatewayMetrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "homeport_gateway_shadow_dropped_total", {"reason": reason}
    )


def test_frames_of_one_loop_turn_go_out_in_one_write_in_order() -> None:
    asyncio.run(_frames_of_one_loop_turn_go_out_in_one_write_in_order())


async def _frames_of_one_loop_turn_go_out_in_one_write_in_order() -> None:
    process, stdin, _ = _handoff()
    for frame in (b"one", b"two", b"three"):
        process.submit(frame)
    assert stdin.writes == []  # never written (nor waited for) inside submit
    await asyncio.sleep(0)
    assert stdin.writes == [b"onetwothree"]
    process.submit(b"four")
    await asyncio.sleep(0)
    assert stdin.writes == [b"onetwothree", b"four"]


def test_a_full_pipe_drops_the_copy_counting_what_waits_to_be_written() -> None:
    asyncio.run(_a_full_pipe_drops_the_copy_counting_what_waits_to_be_written())


async def _a_full_pipe_drops_the_copy_counting_what_waits_to_be_written() -> None:
    process, stdin, metrics = _handoff()
    stdin.transport.buffered = HANDOFF_BYTES - 4
    process.submit(b"x" * 8)  # fits
    process.submit(b"y" * 8)  # the pipe's buffer and this turn's frames are over the bound
    await asyncio.sleep(0)
    assert stdin.writes == [b"x" * 8]
    assert _dropped(metrics, "handoff_full") == 1


def test_frames_handed_before_the_worker_died_are_counted_as_dropped() -> None:
    asyncio.run(_frames_handed_before_the_worker_died_are_counted_as_dropped())


async def _frames_handed_before_the_worker_died_are_counted_as_dropped() -> None:
    process, stdin, metrics = _handoff()
    process.submit(b"one")
    process.submit(b"two")
    stdin.closed = True  # the worker died in the same turn
    await asyncio.sleep(0)
    assert stdin.writes == []
    assert _dropped(metrics, "worker_down") == 2
    process.submit(b"three")
    assert _dropped(metrics, "worker_down") == 3
