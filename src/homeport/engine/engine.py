"""The run engine of one process: local workers, the maintenance loop, streaming and cancel.

``homeport serve`` embeds an ``Engine``; ``homeport worker`` runs one alone. Every process that
executes runs claims them from the runs table with a lease, so any number of processes share the
work (PostgreSQL) and a run whose process died is settled by the next maintenance pass.

The API commits a queued run, then calls ``submit(run_id)``: a local worker claims it at once
(no polling on the hot path). Runs queued by other processes are found by the maintenance loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from homeport.engine import queue
from homeport.engine.adapter import RunRow
from homeport.engine.dbthreads import ConnectionThreads
from homeport.engine.events import Event, EventBus
from homeport.engine.providers.registry import ProviderRegistry
from homeport.engine.status import PAUSED, TERMINAL
from homeport.engine.wakeups import CANCEL, Listener, notify

if TYPE_CHECKING:
    from homeport.engine.executor import Executor
    from homeport.services import Services

log = logging.getLogger("homeport.engine")
T = TypeVar("T")

STALE_CHECK_SECONDS = 1.0
DB_THREADS = 8
READ_THREADS = 2
PG_READ_THREADS = 4
REMOTE_POLL_SECONDS = 0.1


class Engine:
    def __init__(self, services: Services, *, owner: str | None = None) -> None:
        self.services = services
        self.settings = services.settings.engine
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.bus = EventBus()
        self.providers = ProviderRegistry(services.settings)
        self.executors: dict[str, Executor] = {}
        sql = services.db.engine
        # SQLite takes one writer at a time: one thread queues our writes in order instead of
        # letting them collide on the write lock (its busy handler backs off for milliseconds);
        # reads (polls, stream replays) run beside it on their own threads, never queueing in
        # front of a run's writes. On PostgreSQL the readers' statements need no transaction
        # block (dbthreads).
        sqlite = services.settings.is_sqlite
        self._writes = ConnectionThreads(
            sql, 1 if sqlite else DB_THREADS, "homeport-db", grouped=sqlite
        )
        in_memory = sqlite and sql.url.database in (None, "", ":memory:")
        self._reads = (
            self._writes
            if in_memory
            else ConnectionThreads(
                sql, READ_THREADS if sqlite else PG_READ_THREADS, "homeport-db-read", reader=True
            )
        )
        # Heartbeats never wait behind a queue of run transactions (a lease must not lapse
        # because the process is busy).
        self._leases = ConnectionThreads(sql, 1, "homeport-lease")
        self._backlog = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._running = False
        # Other processes' commits wake streams and waits here (PostgreSQL's NOTIFY).
        self._listener = None if sqlite else Listener(self)
        self._listening: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Start executing runs in this process (idempotent)."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._running = True
        self._loops += [
            asyncio.create_task(self._maintain(), name="homeport-engine"),
            asyncio.create_task(self._beat(), name="homeport-heartbeat"),
        ]
        self._listen()
        log.info("engine started", extra={"owner": self.owner})

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop claiming, give running runs ``grace_seconds``, then fail the rest honestly."""
        self._running = False
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        self._listening = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for executor in list(self.executors.values()):
            executor.interrupt("homeport stopped while this run was executing; run it again.")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        await self.providers.aclose()
        for threads in {self._writes, self._reads, self._leases}:
            threads.shutdown()

    def _listen(self) -> None:
        """Follow other processes' commits (from ``start``, or the first stream or wait of a
        process that serves the API without executing runs)."""
        if self._listener is not None and self._listening is None:
            self._listening = asyncio.create_task(self._listener.run(), name="homeport-listen")
            self._loops.append(self._listening)

    # -- database ----------------------------------------------------------------------------

    async def db(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction on the database writer threads."""
        return await self._writes.run(fn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)``, which only reads, in one transaction on the reader threads."""
        return await self._reads.run(fn)

    async def db_session(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one ORM transaction on the writer threads (API routes that
        write runs use it, so their writes queue with the engine's)."""
        return await self._writes.run_session(fn)

    async def read_session(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)``, which only reads, on the reader threads."""
        return await self._reads.run_session(fn)

    # -- submitting, streaming, waiting, cancelling -------------------------------------------

    def submit(self, run_id: str) -> None:
        """A queued run was committed: claim it locally now if this process executes runs.
        Safe to call from any thread."""
        loop = self._loop
        if not self._running or loop is None:
            return
        try:
            running_loop = asyncio.get_running_loop()
        except RuntimeError:
            running_loop = None
        if running_loop is loop:
            self._spawn(run_id)
        else:
            loop.call_soon_threadsafe(self._spawn, run_id)

    def accepting(self) -> bool:
        """Whether this process executes runs and has a free slot. Read from database threads
        too: runs claimed in API transactions may exceed ``workers`` by the writer threads."""
        return self._running and len(self._tasks) < self.settings.workers

    def claim_new(self, row: RunRow) -> RunRow | None:
        """A new run about to be inserted queued: if this process has a free slot, the row to
        insert instead, already claimed by this process (no claim statement afterwards); pass
        it to ``prepare`` once inserted. ``row`` itself is left as it is (queued)."""
        if not self.accepting():
            return None
        return queue.claimed(row, self.owner, self.settings.lease_seconds)

    def prepare(
        self,
        conn: Connection,
        run: RunRow | str,
        *,
        seed: Sequence[Event] = (),
        next_n: int = 0,
        items: list[dict[str, Any]] | None = None,
    ) -> Executor | None:
        """In the transaction that queued a run (on a database thread): claim it for this
        process if it has a free slot (``run`` is its id), or take the row ``claim_new`` made,
        and load what the run needs, so it starts without a transaction of its own. ``seed``
        are the events that transaction emitted (subscribers get them from memory); ``next_n``
        the next event number when it emitted none (0: read it); ``items`` the run's context
        items when the transaction wrote all of them (a new thread's messages; else they are
        read). Hand the result to ``launch`` once the transaction has committed."""
        from homeport.engine.executor import Executor

        if isinstance(run, str) and not self.accepting():
            return None
        return Executor.prepare(self, conn, run, seed=seed, next_n=next_n, items=items)

    def launch(self, run_id: str, executor: Executor | None) -> None:
        """After the commit of a queued run: execute it now if ``prepare`` claimed it, else
        ``submit`` it."""
        if executor is None:
            self.submit(run_id)
            return
        self._adopt(executor)
        self._track(asyncio.create_task(self._run(executor)))

    def _spawn(self, run_id: str | None, claimed: RunRow | None = None) -> None:
        if len(self._tasks) >= self.settings.workers:
            self._backlog = True  # the maintenance loop claims it when a slot frees
            return
        self._track(asyncio.create_task(self._execute(run_id, claimed)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("run task crashed", exc_info=task.exception())
        if self._backlog:
            self._backlog = False
            self._wake.set()

    async def _execute(self, run_id: str | None, claimed: RunRow | None) -> None:
        from homeport.engine.executor import Executor

        executor = await Executor.claim(self, run_id=run_id, claimed=claimed)
        if executor is None:
            return
        self._adopt(executor)
        await self._run(executor)

    def owns(self, run_id: str, **columns: Any) -> bool:
        """Whether the run executes in this process and its row has these (immutable) column
        values: a check that needs no read."""
        executor = self.executors.get(run_id)
        return executor is not None and all(
            executor.scope.run.get(k) == v for k, v in columns.items()
        )

    def _adopt(self, executor: Executor) -> None:
        """A claimed run is this process's now: its events go live at once."""
        executor.open()
        self.executors[executor.run_id] = executor

    async def _run(self, executor: Executor) -> None:
        try:
            await executor.run()
        finally:
            self.executors.pop(executor.run_id, None)

    def events(self, run_id: str, after: int = 0) -> AsyncIterator[list[Event]]:
        """Stored then live events of ``run_id`` numbered above ``after``, up to the next
        ``done`` (end of a stream segment), in batches of the events available at once."""
        self._listen()
        return self.bus.subscribe(
            run_id,
            after,
            db=self.read,
            poll_seconds=min(self.settings.poll_seconds, REMOTE_POLL_SECONDS),
        )

    async def wait(self, run_id: str, limit_seconds: float | None = None) -> RunRow:
        """Wait until the run is terminal or paused for tool outputs; returns its row (as
        committed: from memory when its claim in this process ended, else from the table)."""
        self._listen()
        deadline = None if limit_seconds is None else time.monotonic() + limit_seconds
        waiter = self.bus.waiter(run_id)
        pause = self.bus.remote_pause(None, REMOTE_POLL_SECONDS)
        try:
            while True:
                live = self.bus.live.get(run_id)
                row: RunRow | None = None
                if live is not None:
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(live.ended.wait(), left)
                    row = live.outcome
                if row is None:
                    row = await self.read(lambda conn: queue.load_run(conn, run_id))
                if row is None or row["status"] in TERMINAL or row["status"] in PAUSED:
                    return row or {}
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return row
                await self.bus.wait(waiter, pause if left is None else min(left, pause))
                pause = self.bus.remote_pause(pause, REMOTE_POLL_SECONDS)
        finally:
            self.bus.drop_waiter(run_id, waiter)

    async def cancel(self, run_id: str) -> RunRow:
        """Cancel a run: at once if no worker holds it (queued, requires_action), else flag it
        (``cancelling``) for the worker holding it, in this process or another. Raises
        ``IllegalTransition`` (400) for a finished run. Returns the run row afterwards."""
        from homeport.engine.settle import cancel_run

        def cancel(conn: Connection) -> RunRow:
            row = cancel_run(self.services, conn, run_id)
            if self._listener is not None and row.get("cancel_requested"):
                notify(conn, CANCEL, run_id)  # the worker holding it may live elsewhere
            return row

        row = await self.db(cancel)
        self.bus.notify(run_id)
        executor = self.executors.get(run_id)
        if executor is not None:
            executor.request_cancel()
        return row

    # -- maintenance ---------------------------------------------------------------------------

    async def _maintain(self) -> None:
        """Claim queued runs while there is capacity, pass cancel requests to local runs,
        settle stale runs and refresh queue metrics (heartbeats have their own loop)."""
        last_stale = 0.0
        while self._running:
            try:
                now = time.monotonic()
                await self._claim_free_slots()
                await self._check_cancels()
                if now - last_stale >= STALE_CHECK_SECONDS:
                    last_stale = now
                    await self._settle_stale()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("engine maintenance failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            self._wake.clear()

    async def _beat(self) -> None:
        """Heartbeat our leases on their own thread and schedule, so a long queue of run
        transactions never delays them past the lease."""
        while self._running:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("engine heartbeat failed; retrying")

    async def _claim_free_slots(self) -> None:
        free = self.settings.workers - len(self._tasks)
        if free <= 0 or not await self.read(queue.any_queued):
            return
        owner, lease = self.owner, self.settings.lease_seconds
        rows = await self.db(lambda conn: queue.claim_next(conn, owner, lease, free))
        for row in rows:
            self._spawn(None, claimed=row)

    async def _check_cancels(self) -> None:
        ids = [rid for rid, ex in self.executors.items() if not ex.cancel_seen]
        if not ids:
            return
        for run_id in await self.read(lambda conn: queue.cancel_requested(conn, ids)):
            executor = self.executors.get(run_id)
            if executor is not None:
                executor.request_cancel()

    async def _heartbeat(self) -> None:
        ids = list(self.executors)
        owner, lease = self.owner, self.settings.lease_seconds
        held = await self._leases.run(lambda conn: queue.heartbeat(conn, owner, ids, lease))
        for run_id in set(ids) - held:
            executor = self.executors.get(run_id)
            if executor is not None:
                executor.lost_lease()

    async def _settle_stale(self) -> None:
        from homeport.engine.settle import settle_stale

        settled = await self.db(lambda conn: settle_stale(self.services, conn))
        for run_id in settled:
            self.bus.notify(run_id)
        count, oldest = await self.read(queue.queue_stats)
        metrics = self.services.metrics
        metrics.queue_depth.set(count)
        metrics.queue_age.set(max(0.0, time.time() - oldest) if oldest else 0.0)
