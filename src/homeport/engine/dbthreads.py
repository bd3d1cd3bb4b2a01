"""Transactions on dedicated database threads, each thread holding its own connection.

The event loop never touches the database: ``await threads.run(fn)`` runs ``fn(conn)`` in one
transaction on a pool thread and returns its result. Each thread keeps its connection open
between transactions (no pool checkout, reset or pre-ping per transaction); a connection that
breaks is dropped and the thread's next transaction opens a fresh one.

On PostgreSQL the connections stay in psycopg's pipeline mode and the threads write ``BEGIN``
and ``COMMIT`` themselves: ``BEGIN``, a plain ``INSERT`` (no ``RETURNING``) and the like are
sent without waiting for their answer, and the next statement whose answer is read (rows, a row
count) or the ``COMMIT`` collects all of them in the same round trip. Creating a run (the
assistant lookup, then thread, message, run and event inserts) costs two round trips instead of
seven, finishing it two instead of six. A failed statement is reported, and the transaction
rolled back, at the statement or ``COMMIT`` that collects it: still before the commit returns.
Inserts made with ``store.bulk.insert_rows`` are held until the next statement (``defer``), and
go together in one statement: a run's thread, message, run row and first events are one.

Reader threads on PostgreSQL send no ``BEGIN`` or ``COMMIT``: each statement is its own
transaction (their connections are read-only). Under PostgreSQL's READ COMMITTED every
statement takes its own snapshot inside a transaction too, so a read sees what it would have
seen, one round trip and two statements sooner.

SQLite has one writer: its writer thread (``grouped``) commits the transactions queued while it
was busy as one (each under its own savepoint: one that fails is rolled back alone), so a
``BEGIN IMMEDIATE`` and a ``COMMIT`` serve many runs when many are in flight; alone, a
transaction is committed as before. Every caller learns its outcome only after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExecutionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from homeport.store.bulk import defer, discard
from homeport.store.checks import UNREAD
from homeport.store.db import read_only

T = TypeVar("T")
PIPELINE = "homeport.pipeline"
"""``Connection.info`` key of the psycopg pipeline a connection runs in (PostgreSQL)."""
CLOSE = "homeport.pipeline.close"
"""``Connection.info`` key of what leaves that pipeline."""


class ConnectionThreads:
    """``size`` threads with one connection each; ``reader`` threads only read (on SQLite their
    transactions take no write lock)."""

    def __init__(
        self, engine: Engine, size: int, name: str, *, reader: bool = False, grouped: bool = False
    ) -> None:
        self.engine = engine
        self.reader = reader
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._grouped = grouped and size == 1 and engine.dialect.name == "sqlite"
        self._queue: list[_Queued] = []
        self._queue_lock = threading.Lock()
        self._draining = False

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one transaction on one of the threads."""
        loop = asyncio.get_running_loop()
        if not self._grouped:
            return await loop.run_in_executor(self._pool, self.transaction, fn)
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            self._queue.append((fn, future, loop))
            start, self._draining = not self._draining, True
        if start:
            self._pool.submit(self._drain)
        return await future

    async def run_session(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in one ORM transaction (flushed before the commit)."""
        return await self.run(partial(_in_session, fn))

    def transaction(self, fn: Callable[[Connection], T]) -> T:
        conn = self._connection()
        try:
            with conn.begin():
                if PIPELINE in conn.info and not self.reader:
                    return _pipelined(conn, fn)
                return fn(conn)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._local.conn = None
                _close(conn)
            raise

    def _drain(self) -> None:
        """On the writer thread: commit what is queued, a group at a time, until none is."""
        while True:
            with self._queue_lock:
                group, self._queue = self._queue, []
                if not group:
                    self._draining = False
                    return
            outcomes = (
                self._group(group) if len(group) > 1 else [_outcome(self.transaction, group[0][0])]
            )
            for (_, future, loop), outcome in zip(group, outcomes, strict=True):
                loop.call_soon_threadsafe(_settle, future, outcome)

    def _group(self, group: list[_Queued]) -> list[_Outcome]:
        """The group's transactions in one, each under a savepoint; if the commit fails, all do."""
        conn = self._connection()
        outcomes: list[_Outcome] = []
        try:
            with conn.begin():
                for fn, _, _ in group:
                    outcomes.append(_outcome(_savepoint, conn, fn))
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._local.conn = None
                _close(conn)
            return [(False, exc)] * len(group)
        except Exception as exc:
            return [(False, exc)] * len(group)
        return outcomes

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            if self.reader:
                read_only(conn)
            if conn.dialect.driver == "psycopg":
                _pipeline(conn, reader=self.reader)
            self._local.conn = conn
            self._opened.append(conn)
        return conn

    def shutdown(self) -> None:
        """Finish the transaction in progress, drop queued ones, close the connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._queue_lock:
            dropped, self._queue = self._queue, []
        for _, future, loop in dropped:
            loop.call_soon_threadsafe(future.cancel)
        for conn in self._opened:
            _close(conn)
        self._opened.clear()


_Outcome = tuple[bool, Any]
"""``(True, result)`` or ``(False, exception)``."""
_Queued = tuple[Callable[[Connection], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _outcome(call: Callable[..., Any], *args: Any) -> _Outcome:
    try:
        return True, call(*args)
    except Exception as exc:
        return False, exc


def _savepoint(conn: Connection, fn: Callable[[Connection], T]) -> T:
    with conn.begin_nested():
        return fn(conn)


def _settle(future: asyncio.Future[Any], outcome: _Outcome) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _in_session(fn: Callable[[Session], T], conn: Connection) -> T:
    """``fn`` on an ORM session over ``conn``'s transaction, flushed before it commits. The
    session leaves that transaction alone when it closes, also inside a group's savepoint (by
    default it would make a savepoint of its own there, and roll it back on close)."""
    with Session(
        bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only"
    ) as session:
        result = fn(session)
        session.flush()
        return result


def _pipeline(conn: Connection, *, reader: bool) -> None:
    """Put a new psycopg connection in pipeline mode for good; its transactions are begun and
    committed by ``ConnectionThreads.transaction`` (psycopg would wait for ``BEGIN``). A
    reader's statements go without a transaction block, and it can write nothing."""
    driver = conn.connection.driver_connection
    assert driver is not None
    if reader:
        driver.execute("SET default_transaction_read_only = on")
        driver.commit()
    driver.autocommit = True
    exits = contextlib.ExitStack()
    conn.info[PIPELINE] = exits.enter_context(driver.pipeline())
    conn.info[CLOSE] = exits
    event.listen(conn, "after_cursor_execute", _sync if reader else _collect)


def _pipelined(conn: Connection, fn: Callable[[Connection], T]) -> T:
    """``fn(conn)`` between our own ``BEGIN`` and ``COMMIT`` (the driver is in autocommit
    mode); the ``COMMIT`` is collected at once, so the transaction is durable on return."""
    from psycopg import Error, pq  # only PostgreSQL connections come here

    pipeline = conn.info[PIPELINE]
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(b"BEGIN")  # not through SQLAlchemy: it has no answer to read
    defer(conn)
    try:
        result = fn(conn)
        conn.exec_driver_sql("COMMIT")  # after the inserts still held (one statement)
    except BaseException:
        discard(conn)
        with contextlib.suppress(Error):  # the error that counts is already raised
            pipeline.sync()
            if driver.info.transaction_status != pq.TransactionStatus.IDLE:
                driver.execute("ROLLBACK")
                pipeline.sync()
        raise
    finally:
        discard(conn)
    return result


def _close(conn: Connection) -> None:
    exits: contextlib.ExitStack | None = conn.info.pop(CLOSE, None)
    conn.info.pop(PIPELINE, None)
    if exits is not None:
        with contextlib.suppress(Exception):  # a broken connection cannot sync
            exits.close()
    conn.close()


def _sync(conn: Connection, *_: Any) -> None:
    """Wait for the answers of everything sent so far. After each of a reader's statements (no
    transaction block collects them later), and after a writer's that are read (``_collect``)."""
    pipeline = conn.info.get(PIPELINE)
    if pipeline is not None:
        pipeline.sync()


def _collect(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    """After a statement is sent in pipeline mode: unless it is a plain insert or ``UNREAD``,
    wait for the answers of everything sent so far (SQLAlchemy reads its rows or row count
    next; an error raises here). A plain insert's row count is not known until then."""
    compiled = getattr(context, "compiled", None)
    plain_insert = (
        compiled is not None
        and getattr(context, "isinsert", False)
        and not compiled.effective_returning
    )
    if not plain_insert and not (context is not None and context.execution_options.get(UNREAD)):
        _sync(conn)
