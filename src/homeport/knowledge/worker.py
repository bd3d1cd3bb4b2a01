"""The ingestion worker: an asyncio task that claims queued vector store files and indexes them
in threads (embedding is CPU-bound and releases the GIL).

It runs inside ``homeport serve`` (started with the vector stores router) and wakes at once when
the API queues a file (``wake``); otherwise it looks for work every ``knowledge.poll_seconds``,
which also picks up files whose worker died (expired leases) and files queued by other
processes. Every ``knowledge.sweep_seconds``, from its first pass on, it also sweeps what expired
stores and files leave behind (homeport.knowledge.sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING

from homeport.errors import HomeportError
from homeport.knowledge.blobs import blob_store
from homeport.knowledge.embeddings import get_embedder
from homeport.knowledge.ingest import Ingestor, Job, claim, fail_job
from homeport.knowledge.sweep import sweep

if TYPE_CHECKING:
    from homeport.services import Services

log = logging.getLogger("homeport.knowledge")

EXTRA_KEY = "knowledge.worker"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def ingestor(services: Services) -> Ingestor:
    settings = services.settings
    return Ingestor(
        services.db,
        blob_store(settings),
        get_embedder(settings.knowledge),
        lease_seconds=settings.knowledge.lease_seconds,
    )


class IngestWorker:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings.knowledge
        self.owner = worker_id()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._ingestor: Ingestor | None = None
        self._next_sweep = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._main(), name="knowledge-ingest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Jobs in threads cannot be interrupted; their leases expire and another worker
        # takes them over if this process exits first.
        await asyncio.gather(*self._running, return_exceptions=True)

    def wake(self) -> None:
        """Look for work now (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _main(self) -> None:
        while True:
            try:
                await self._fill()
                await self._sweep()
            except Exception:
                log.exception("knowledge worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            self._wake.clear()

    async def _fill(self) -> None:
        free = self.settings.ingest_workers - len(self._running)
        if free <= 0:
            return
        jobs = await asyncio.to_thread(
            claim,
            self.services.db,
            self.owner,
            lease_seconds=self.settings.lease_seconds,
            limit=free,
        )
        for job in jobs:
            task = asyncio.create_task(self._run(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _sweep(self) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.settings.sweep_seconds
        swept = await asyncio.to_thread(sweep, self.services.db, blob_store(self.services.settings))
        if swept.stores or swept.files or swept.orphans:
            log.info(
                "swept %d expired vector stores and %d expired files (%d blobs deleted), "
                "%d orphaned blobs",
                swept.stores,
                swept.files,
                swept.blobs,
                swept.orphans,
            )

    async def _run(self, job: Job) -> None:
        try:
            if self._ingestor is None:
                self._ingestor = await asyncio.to_thread(ingestor, self.services)
        except HomeportError as exc:  # e.g. the embedding model is not installed
            log.error("cannot index files: %s", exc.message)
            await asyncio.to_thread(
                fail_job, self.services.db, job, self.owner, "server_error", exc.message
            )
            return
        await asyncio.to_thread(self._ingestor.process, job, self.owner)
        self._wake.set()


def running_worker(services: Services) -> IngestWorker | None:
    worker = services.extras.get(EXTRA_KEY)
    return worker if isinstance(worker, IngestWorker) else None


def wake_worker(services: Services) -> None:
    """Tell this process's worker (if it runs one) that files were queued and committed."""
    worker = running_worker(services)
    if worker is not None:
        worker.wake()
