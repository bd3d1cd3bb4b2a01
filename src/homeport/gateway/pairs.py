"""Answer pairs on their way to the comparators: a bounded queue, one drain task, a sink (in the
shadow worker process).

``offer`` never waits: when the queue is full the pair is dropped and counted. The drain task
hands batches to the sink (a pair waits up to ``LINGER_SECONDS`` for others to share its write);
a failing sink loses its batch (counted), never the gateway.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Sequence
from pathlib import Path

import orjson

from homeport.config import ConfigError
from homeport.gateway.config import ShadowConfig
from homeport.gateway.handoff import Reports
from homeport.gateway.seams import STORE_SINK_FACTORY, PairSink, ShadowPair
from homeport.store.db import Database

log = logging.getLogger("homeport.gateway.pairs")

DRAIN_SECONDS_ON_STOP = 5.0
LINGER_SECONDS = 0.05  # a batch waits this long for more pairs: one sink write per batch


class JsonlSink:
    """Appends each pair as one JSON line (``ShadowPair.to_dict``) to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, pairs: Sequence[ShadowPair]) -> None:
        lines = b"".join(orjson.dumps(p.to_dict()) + b"\n" for p in pairs)
        with self.path.open("ab") as handle:
            handle.write(lines)

    async def write(self, pairs: Sequence[ShadowPair]) -> None:
        await asyncio.to_thread(self._append, pairs)


def load_sink(config: ShadowConfig, db: Database, gateway: str) -> PairSink | None:
    if config.sink == "none":
        return None
    if config.sink == "jsonl":
        if config.jsonl_path is None:
            raise ConfigError("setting 'shadow.jsonl_path': needed when shadow.sink = \"jsonl\"")
        return JsonlSink(config.jsonl_path)
    module_name, _, attr = STORE_SINK_FACTORY.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f'shadow.sink = "store" needs {STORE_SINK_FACTORY}, which is not available ({exc}):'
            ' use sink = "jsonl"'
        ) from exc
    sink: PairSink = factory(db, gateway)
    return sink


class PairQueue:
    def __init__(self, sink: PairSink | None, config: ShadowConfig, reports: Reports):
        self._sink = sink
        self._queue: asyncio.Queue[ShadowPair] = asyncio.Queue(config.pair_queue_size)
        self._batch = config.batch_size
        self._reports = reports
        self._task: asyncio.Task[None] | None = None

    def offer(self, pair: ShadowPair) -> None:
        if self._sink is None:
            return
        try:
            self._queue.put_nowait(pair)
        except asyncio.QueueFull:
            self._reports.lost("queue_full", 1)

    def start(self) -> None:
        if self._sink is not None:
            self._task = asyncio.create_task(self._drain(), name="gateway-pair-drain")

    async def stop(self) -> None:
        """Deliver what is queued (for a few seconds at most), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_SECONDS_ON_STOP)
        except TimeoutError:
            log.warning("stopping with %d answer pairs undelivered", self._queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        assert self._sink is not None
        while True:
            batch = [await self._queue.get()]
            if self._queue.qsize() + 1 < self._batch:
                await asyncio.sleep(LINGER_SECONDS)
            while len(batch) < self._batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._sink.write(batch)
                self._reports.written(len(batch))
            except Exception as exc:  # the sink's failure must not stop the gateway
                log.warning("answer-pair sink failed, %d pairs lost: %s", len(batch), exc)
                self._reports.lost("sink", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
