"""Wake-ups across processes on PostgreSQL: ``LISTEN``/``NOTIFY``.

Every transaction that appends to the event log of a run (``RunScope.flush``: every status
change of a run is an event, so finishing, pausing, cancelling and settling it all do) sends
``NOTIFY homeport_run, '<run id>'`` in that same transaction: PostgreSQL delivers it only once
the transaction commits, and never if it rolls back. The transaction that creates a run sends
none (nobody can wait for a run before its creation is answered), so a run that is created and
finishes in one go costs one notification. ``Engine.cancel`` sends
``homeport_cancel`` for a run flagged for its worker, which may live in another process.

Each process holds one listening connection (a task in its event loop, no thread) and feeds
what it hears to its local ``EventBus``: a stream or a long-polling retrieve of a run that
another process executes wakes as soon as the change commits. While the listener is
connected, readers poll the table only as a safety net (``MAX_POLL_SECONDS``); when it drops,
``EventBus.signalled`` turns false and they fall back to the polling backoff while the listener
reconnects. On (re)connecting every waiter is woken once: what committed while nobody listened
is read from the table.

SQLite has no ``NOTIFY``: there one process serves (``homeport serve --workers`` above 1 is
refused) and nothing here runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from homeport.engine.engine import Engine

log = logging.getLogger("homeport.engine")

CHANGED = "homeport_run"
"""Channel of run changes; the payload is the run ID."""
CANCEL = "homeport_cancel"
"""Channel of cancel requests for a run held by a worker; the payload is the run ID."""
RECONNECT_SECONDS = (0.1, 5.0)
"""First and longest pause between attempts to reconnect the listener."""
_NOTIFY = "SELECT pg_notify(%s, %s)"


def notify(conn: Connection, channel: str, run_id: str) -> None:
    """Queue a notification in ``conn``'s transaction (sent with its commit). Through the
    driver: in pipeline mode it waits for no answer; not prepared (one cheap statement)."""
    driver: Any = conn.connection.driver_connection
    driver.execute(_NOTIFY, (channel, run_id), prepare=False)


def announce(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """In the transaction that appends ``events`` (rows of one run's event log): wake other
    processes' readers of the run when it commits (PostgreSQL; nothing on SQLite). Not for a
    run's first events, written as it is created: no one elsewhere knows its ID yet."""
    if events and events[0]["n"] > 1 and conn.dialect.name == "postgresql":
        notify(conn, CHANGED, events[0]["run_id"])


class Listener:
    """The ``LISTEN`` connection of one process, feeding its run engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        url = engine.services.db.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with a growing pause while the connection
        cannot be had."""
        bus = self.engine.bus
        pause = RECONNECT_SECONDS[0]
        try:
            while True:
                try:
                    await self._listen()
                except Exception as exc:
                    if bus.signalled:  # it was connected: retry soon
                        pause = RECONNECT_SECONDS[0]
                    bus.signalled = False
                    log.warning(
                        "run change listener disconnected; polling until it reconnects",
                        extra={"error": f"{exc.__class__.__name__}: {exc}"},
                    )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_SECONDS[1])
        finally:
            bus.signalled = False

    async def _listen(self) -> None:
        """Hold one ``LISTEN`` connection until it breaks (raises then). Notifications are read
        straight from libpq when its socket is readable: psycopg's ``notifies()`` generator
        costs a wait of its own per notification (a tenth of a millisecond of the event loop's
        time), and a process hears its own commits too."""
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, keepalives=1, keepalives_idle=10
        )
        async with conn:
            conn.add_notify_handler(lambda note: self._heard(note.channel, note.payload))
            await conn.execute(f"LISTEN {CHANGED}")
            await conn.execute(f"LISTEN {CANCEL}")
            loop = asyncio.get_running_loop()
            pgconn, encoding = conn.pgconn, conn.info.encoding
            broken: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                try:
                    pgconn.consume_input()
                except psycopg.OperationalError as exc:
                    if not broken.done():
                        broken.set_exception(exc)
                    return
                while (note := pgconn.notifies()) is not None:
                    self._heard(note.relname.decode(encoding), note.extra.decode(encoding))

            socket = pgconn.socket
            loop.add_reader(socket, readable)
            try:
                bus = self.engine.bus
                bus.signalled = True
                bus.wake_all()  # what committed while nobody listened is read now
                readable()  # what is already buffered (psycopg's handler took what came before)
                await broken
            finally:
                loop.remove_reader(socket)

    def _heard(self, channel: str, run_id: str) -> None:
        if channel == CHANGED:
            self.engine.bus.notify(run_id)
            return
        executor = self.engine.executors.get(run_id)
        if executor is not None:
            executor.request_cancel()
