"""Transactions on dedicated database threads, each thread holding its own connection.

The event loop never touches the database: ``await threads.run(fn)`` runs ``fn(conn)`` in one
transaction on a pool thread and returns its result. Each thread keeps its connection open
between transactions (no pool checkout, reset or pre-ping per transaction); a connection that
breaks is dropped and the thread's next transaction opens a fresh one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from homeport.store.db import read_only

T = TypeVar("T")


class ConnectionThreads:
    """``size`` threads with one connection each; ``reader`` threads only read (on SQLite their
    transactions take no write lock)."""

    def __init__(self, engine: Engine, size: int, name: str, *, reader: bool = False) -> None:
        self.engine = engine
        self.reader = reader
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._local = threading.local()
        self._opened: list[Connection] = []

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one transaction on one of the threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.transaction, fn)

    async def run_session(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in one ORM transaction (flushed before the commit)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._session, fn)

    def transaction(self, fn: Callable[[Connection], T]) -> T:
        conn = self._connection()
        try:
            with conn.begin():
                return fn(conn)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._local.conn = None
                conn.close()
            raise

    def _session(self, fn: Callable[[Session], T]) -> T:
        def in_session(conn: Connection) -> T:
            with Session(bind=conn, expire_on_commit=False) as session:
                result = fn(session)
                session.flush()
                return result

        return self.transaction(in_session)

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            if self.reader:
                read_only(conn)
            self._local.conn = conn
            self._opened.append(conn)
        return conn

    def shutdown(self) -> None:
        """Finish the transaction in progress, drop queued ones, close the connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in self._opened:
            conn.close()
        self._opened.clear()
