"""The database engine and sessions, SQLite (WAL) or PostgreSQL.

SQLite goes through ``sqlean`` (an sqlite3 build that can load extensions such as sqlite-vec and
has FTS5). Every SQLite transaction starts with ``BEGIN IMMEDIATE`` so two writers never deadlock
on a lock upgrade, except on connections marked ``read_only()``: those begin deferred and, with
WAL, read beside the writer without waiting for it. JSON columns are encoded with orjson.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

ConnectHook = Callable[[Any], None]
_connect_hooks: list[ConnectHook] = []
READ_ONLY = "homeport_read_only"
"""Execution option of connections that only read (SQLite begins their transactions deferred)."""


def read_only(conn: Connection) -> Connection:
    """Mark ``conn`` as a reader: it must not write (on SQLite it takes no write lock)."""
    return conn.execution_options(**{READ_ONLY: True})


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def on_sqlite_connect(hook: ConnectHook) -> ConnectHook:
    """Register a hook run on every new raw SQLite connection (e.g. to load an extension)."""
    _connect_hooks.append(hook)
    return hook


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_db_engine(url: str, *, pool_size: int = 20) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def _sqlite_engine(url: str) -> Engine:
    import sqlean

    parsed = make_url(url)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    kwargs: dict[str, Any] = {
        "module": sqlean,
        "connect_args": {"check_same_thread": False},
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if memory:
        from sqlalchemy.pool import StaticPool

        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        for hook in _connect_hooks:
            hook(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        reader = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

    return engine


class Database:
    """An engine plus its session factory; one per process, made by the app or CLI."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = create_db_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, future=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
