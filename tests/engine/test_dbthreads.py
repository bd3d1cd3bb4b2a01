"""Transactions on the engine's database threads: committed when they return, rolled back whole
on any error (on PostgreSQL their statements are pipelined, so an insert's error surfaces at the
statement or commit that collects it), and few round trips on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
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
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from homeport.engine.dbthreads import ConnectionThreads
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
