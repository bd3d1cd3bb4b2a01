"""The event log of runs: the ``run_events`` table plus in-process publish/subscribe.

Executors append events through ``RunScope.emit`` (published here at once, committed in batches).
``subscribe(run_id, after)`` replays stored events numbered above ``after``, then follows live
ones, in batches of what is available at once: from memory when the run executes in this
process, else from the table (another process executes it) each time that process's commits
wake the bus (``homeport.engine.wakeups``: PostgreSQL's ``NOTIFY``) or a poll interval passes. A
subscription ends after the ``done`` event that closes each stream segment (the run finished, or
paused for tool outputs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, func, select

from homeport.engine.adapter import DONE
from homeport.engine.rows import RUN_EVENTS

MAX_POLL_SECONDS = 1.0
Event = tuple[int, str, str]
"""(n, event name, JSON data text)."""

T = TypeVar("T")
DbCall = Callable[[Callable[[Connection], T]], "asyncio.Future[T]"]


@dataclass
class LiveRun:
    """Events of a run executing in this process, from ``first_n`` on (committed or not)."""

    first_n: int
    events: list[Event] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: dict[str, Any] | None = None
    """The run's row as this claim committed it, once ``ended`` (None if it could not be
    stored: read the table then)."""

    def after(self, n: int) -> list[Event]:
        start = max(0, n + 1 - self.first_n)
        return self.events[start:]


class EventBus:
    def __init__(self) -> None:
        self.live: dict[str, LiveRun] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.signalled = False
        """Whether commits of other processes wake this bus (their listener is connected):
        readers of runs executing elsewhere then poll the table only as a safety net."""

    def remote_pause(self, previous: float | None, first: float) -> float:
        """The pause before the next table read of a run executing elsewhere: ``first``, then
        doubling up to ``MAX_POLL_SECONDS``; always that safety net while commits wake the
        bus."""
        if self.signalled:
            return MAX_POLL_SECONDS
        return first if previous is None else min(previous * 2, MAX_POLL_SECONDS)

    def open(self, run_id: str, first_n: int, events: Sequence[Event] = ()) -> LiveRun:
        """A run starts executing here; ``events`` (from ``first_n`` on) are already known."""
        live = LiveRun(first_n, list(events))
        self.live[run_id] = live
        self._wake(run_id)
        return live

    def close(self, run_id: str, live: LiveRun, outcome: dict[str, Any] | None = None) -> None:
        """The executor is done with this claim and everything is committed; ``outcome`` is
        the run's row as committed."""
        live.outcome = outcome
        live.ended.set()
        if self.live.get(run_id) is live:
            del self.live[run_id]
        self._wake(run_id)

    def publish(self, run_id: str, n: int, event: str, data: str) -> None:
        live = self.live.get(run_id)
        if live is not None:
            live.events.append((n, event, data))
        self._wake(run_id)

    def notify(self, run_id: str) -> None:
        """Something about the run changed elsewhere (committed events): wake its readers."""
        self._wake(run_id)

    def wake_all(self) -> None:
        """Wake every reader (changes may have been missed: they read the table again)."""
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()

    def _wake(self, run_id: str) -> None:
        for waiter in self._waiters.get(run_id, ()):
            waiter.set()

    async def wait(self, waiter: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), seconds)
        waiter.clear()

    def waiter(self, run_id: str) -> asyncio.Event:
        waiter = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(waiter)
        return waiter

    def drop_waiter(self, run_id: str, waiter: asyncio.Event) -> None:
        waiters = self._waiters.get(run_id)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[run_id]

    async def subscribe(
        self, run_id: str, after: int, *, db: Any, poll_seconds: float
    ) -> AsyncIterator[list[Event]]:
        """Events numbered above ``after`` until the next ``done``, in batches of the events
        available at once (a reader writes each batch to its client in one go). ``db`` runs a
        function with a connection in the database thread pool (``Engine.read``). Table reads
        that find nothing back off from ``poll_seconds`` to ``MAX_POLL_SECONDS``; local events
        wake the reader at once, and so do other processes' commits while ``signalled``
        (table reads are then a safety net every ``MAX_POLL_SECONDS``)."""
        waiter = self.waiter(run_id)
        last = after
        live: LiveRun | None = None
        pause = self.remote_pause(None, poll_seconds)
        try:
            while True:
                live = self.live.get(run_id, live)
                if live is not None and live.first_n <= last + 1:
                    batch = live.after(last)
                else:
                    batch = await db(partial(stored_events, run_id=run_id, after=last))
                for index, event in enumerate(batch):
                    if event[1] == DONE:
                        yield batch[: index + 1]
                        return
                if batch:
                    yield batch
                    last = batch[-1][0]
                    pause = self.remote_pause(None, poll_seconds)
                    continue
                if live is not None and live.ended.is_set() and live.first_n <= last + 1:
                    live = None  # its events are committed: read the rest from the table
                    continue
                await self.wait(waiter, pause)
                if live is None:
                    pause = self.remote_pause(pause, poll_seconds)
        finally:
            self.drop_waiter(run_id, waiter)


_STORED = (
    select(RUN_EVENTS.c.n, RUN_EVENTS.c.event, RUN_EVENTS.c.data)
    .where(RUN_EVENTS.c.run_id == bindparam("p_run"), RUN_EVENTS.c.n > bindparam("p_after"))
    .order_by(RUN_EVENTS.c.n)
)
_LAST = select(func.max(RUN_EVENTS.c.n)).where(RUN_EVENTS.c.run_id == bindparam("p_run"))


def stored_events(conn: Connection, run_id: str, after: int) -> list[Event]:
    rows = conn.execute(_STORED, {"p_run": run_id, "p_after": after})
    return [(n, event, data) for n, event, data in rows]


def last_event_number(conn: Connection, run_id: str) -> int:
    value = conn.execute(_LAST, {"p_run": run_id}).scalar_one_or_none()
    return int(value or 0)


def encode_sse(event: str, data: str) -> bytes:
    """One server-sent event, as OpenAI frames them."""
    return f"event: {event}\ndata: {data}\n\n".encode()
