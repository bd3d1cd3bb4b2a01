"""Count the protocol messages of PostgreSQL transactions on the engine's database threads, from
libpq's trace of their connection: statements are ``Bind`` messages, round trips ``Sync``
messages (or ``ReadyForQuery`` answers, but psycopg may read a reader's last one later)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from homeport.engine.dbthreads import ConnectionThreads


def traced_messages(
    threads: ConnectionThreads, work: Callable[[Connection], Any], path: Path, message: str
) -> int:
    """How many ``message`` lines libpq traces while ``threads`` (one thread) runs ``work`` in
    one transaction."""
    with path.open("w") as out:

        def start_tracing(conn: Connection) -> None:
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.pgconn.trace(out.fileno())

        threads.transaction(start_tracing)
        before = _count(path, message)
        threads.transaction(work)
        out.flush()
        return _count(path, message) - before


def _count(path: Path, message: str) -> int:
    """Lines of the trace naming ``message`` (``time, F|B, length, message[, fields]``)."""
    return sum(line.split("\t")[3:4] == [message] for line in path.read_text().splitlines())
