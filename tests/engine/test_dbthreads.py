"""Transactions on the engine's database threads: committed when they return, rolled back whole
on any error (on PostgreSQL their statements are pipelined, so an insert's error surfaces at the
statement or commit that collects it), and few round trips on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from homeport.engine.dbthreads import ConnectionThreads
from homeport.store.checks import UNREAD
from homeport.store.db import Database
from tests.support.libpq_trace import traced_messages

METADATA = MetaData()
PROBE = Table(
    "dbthreads_probe", METADATA, Column("id", String, primary_key=True), Column("n", Integer)
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    sql = create_engine(database_url)
    METADATA.create_all(sql)
    yield sql
    sql.dispose()


@pytest.fixture
def threads(engine: Engine) -> Iterator[ConnectionThreads]:
    pool = ConnectionThreads(engine, 1, "test-db")
    yield pool
    pool.shutdown()


def _ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(select(PROBE.c.id)))


def _put(conn: Connection, *ids: str) -> None:
    for id_ in ids:
        conn.execute(insert(PROBE).inline(), {"id": id_, "n": 1})


def test_a_transaction_is_committed_when_it_returns(
    engine: Engine, threads: ConnectionThreads
) -> None:
    threads.transaction(lambda conn: _put(conn, "a", "b"))
    assert _ids(engine) == ["a", "b"]  # read on another connection


def test_a_failed_insert_rolls_back_the_whole_transaction(
    engine: Engine, threads: ConnectionThreads
) -> None:
    threads.transaction(lambda conn: _put(conn, "a"))
    with pytest.raises(IntegrityError):
        threads.transaction(lambda conn: _put(conn, "b", "a", "c"))
    assert _ids(engine) == ["a"]
    threads.transaction(lambda conn: _put(conn, "d"))  # the connection is still usable
    assert _ids(engine) == ["a", "d"]


def test_an_error_after_writes_rolls_them_back(engine: Engine, threads: ConnectionThreads) -> None:
    def fail(conn: Connection) -> None:
        _put(conn, "a")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        threads.transaction(fail)
    assert _ids(engine) == []
    threads.transaction(lambda conn: _put(conn, "b"))
    assert _ids(engine) == ["b"]


def test_reads_see_the_writes_before_them(threads: ConnectionThreads) -> None:
    def write_then_count(conn: Connection) -> int:
        _put(conn, "a", "b")
        return int(conn.scalar(select(func.count()).select_from(PROBE)) or 0)

    assert threads.transaction(write_then_count) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_read_then_inserts_cost_two_round_trips(
    engine: Engine, threads: ConnectionThreads, tmp_path: Path
) -> None:
    assert engine.dialect.name == "postgresql"

    def read_then_write(conn: Connection) -> None:
        conn.scalar(select(func.count()).select_from(PROBE))
        _put(conn, "a", "b", "c")

    # BEGIN + the read, then the inserts + COMMIT: one answer each
    trace = tmp_path / "libpq.trace"
    assert traced_messages(threads, read_then_write, trace, "ReadyForQuery") == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_unread_statement_is_collected_with_the_commit(
    engine: Engine, threads: ConnectionThreads, tmp_path: Path
) -> None:
    """A statement sent with ``UNREAD`` waits for no answer: an update, then inserts and the
    commit are one round trip, and its error (here: a division by zero when no row changed)
    is raised by the commit, which then writes nothing."""
    threads.transaction(lambda conn: _put(conn, "a"))
    changed = update(PROBE).where(PROBE.c.id == bindparam("p_id")).values(n=PROBE.c.n + 1)
    checked = (
        select(literal(1) / func.count())
        .select_from(changed.returning(PROBE.c.id).cte("changed"))
        .execution_options(**{UNREAD: True})
    )

    def bump_then_put(target: str, new: str) -> Callable[[Connection], None]:
        def work(conn: Connection) -> None:
            conn.execute(checked, {"p_id": target})
            _put(conn, new)

        return work

    trace = tmp_path / "libpq.trace"
    assert traced_messages(threads, bump_then_put("a", "b"), trace, "Sync") == 1
    with pytest.raises(DBAPIError, match="division by zero"):
        threads.transaction(bump_then_put("missing", "c"))
    with engine.connect() as conn:
        assert sorted(conn.execute(select(PROBE.c.id, PROBE.c.n))) == [("a", 2), ("b", 1)]


@pytest.fixture
def reader(engine: Engine) -> Iterator[ConnectionThreads]:
    pool = ConnectionThreads(engine, 1, "test-read", reader=True)
    yield pool
    pool.shutdown()


def _count_and_first(conn: Connection) -> tuple[int, str | None]:
    count = int(conn.scalar(select(func.count()).select_from(PROBE)) or 0)
    return count, conn.scalar(select(PROBE.c.id).order_by(PROBE.c.id).limit(1))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_reader_sends_its_statements_alone(
    engine: Engine, threads: ConnectionThreads, reader: ConnectionThreads, tmp_path: Path
) -> None:
    threads.transaction(lambda conn: _put(conn, "b", "a"))
    assert reader.transaction(_count_and_first) == (2, "a")  # committed writes are seen
    # Two statements, each answered alone: no BEGIN and no COMMIT around them.
    assert traced_messages(reader, _count_and_first, tmp_path / "binds.trace", "Bind") == 2
    assert traced_messages(reader, _count_and_first, tmp_path / "rounds.trace", "Sync") == 2
    # A writer's transaction of the same reads: BEGIN and COMMIT as well, and one more answer.
    assert traced_messages(threads, _count_and_first, tmp_path / "writer.trace", "Bind") == 4
    assert traced_messages(threads, _count_and_first, tmp_path / "w.trace", "Sync") == 3


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_reader_writes_nothing(
    engine: Engine, threads: ConnectionThreads, reader: ConnectionThreads
) -> None:
    threads.transaction(lambda conn: _put(conn, "a"))
    with pytest.raises(DBAPIError, match="read-only transaction"):
        reader.transaction(lambda conn: _put(conn, "b"))
    assert _ids(engine) == ["a"]
    assert reader.transaction(_count_and_first) == (1, "a")  # and it goes on reading


@pytest.fixture
def sqlite_writer(tmp_path: Path) -> Iterator[tuple[Database, ConnectionThreads]]:
    """homeport's SQLite engine (``BEGIN IMMEDIATE``, savepoints) with a grouping writer."""
    db = Database(f"sqlite:///{tmp_path / 'group.db'}")
    METADATA.create_all(db.engine)
    writer = ConnectionThreads(db.engine, 1, "test-writer", grouped=True)
    yield db, writer
    writer.shutdown()
    db.dispose()


def test_transactions_queued_behind_a_busy_writer_commit_as_one_group(
    sqlite_writer: tuple[Database, ConnectionThreads],
) -> None:
    """While the writer is busy, five transactions queue: they go in one commit, each under its
    savepoint, so the one that fails is rolled back alone and its caller alone sees the error;
    an ORM session's writes in the group are kept."""
    db, writer = sqlite_writer
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda _: commits.append(1))
    queued = threading.Event()

    def first(conn: Connection) -> str:
        queued.wait(10)
        _put(conn, "first")
        return "first"

    def put(id_: str) -> Callable[[Connection], str]:
        def write(conn: Connection) -> str:
            _put(conn, id_)
            if id_ == "bad":
                raise ValueError("refused")
            return id_

        return write

    def by_session(session: Session) -> str:
        session.execute(insert(PROBE).inline(), {"id": "orm", "n": 1})
        return "orm"

    async def scenario() -> list[object]:
        head = asyncio.ensure_future(writer.run(first))
        await asyncio.sleep(0.05)  # the writer holds ``first``
        rest = [writer.run(put(i)) for i in ("a", "bad", "b")]
        rest.append(writer.run_session(by_session))
        tasks = [asyncio.ensure_future(r) for r in rest]
        await asyncio.sleep(0.05)  # all four queued behind it
        queued.set()
        return await asyncio.gather(head, *tasks, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes[:2] == ["first", "a"] and outcomes[3:] == ["b", "orm"]
    assert isinstance(outcomes[2], ValueError)
    assert len(commits) == 2  # ``first`` alone, then the four queued behind it together
    assert _ids(db.engine) == ["a", "b", "first", "orm"]
