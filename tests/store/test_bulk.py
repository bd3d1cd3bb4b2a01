"""Driver-level inserts (``store.bulk``): the rows read back as SQLAlchemy's own inserts would
have written them (JSON, NULLs, booleans, floats), on both databases, one row or many, inside
pipelined transactions too; driver errors surface as SQLAlchemy's. In the database threads'
PostgreSQL transactions inserts are held until the next statement and go in one statement,
foreign keys and each table's order intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from homeport.engine.dbthreads import ConnectionThreads
from homeport.store.bulk import insert_rows
from homeport.store.db import create_db_engine
from tests.support.libpq_trace import traced_messages

METADATA = MetaData()
ROWS = Table(
    "bulk_probe",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(16), unique=True, nullable=False),
    Column("n", Integer),
    Column("ok", Boolean),
    Column("score", Float),
    Column("data", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
)
CHILDREN = Table(
    "bulk_child",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("parent", String(16), ForeignKey("bulk_probe.id"), nullable=False),
    Column("n", Integer, nullable=False),
)
DEFAULTED = Table(
    "bulk_defaulted",
    METADATA,
    Column("id", String(16), primary_key=True),
    Column("n", Integer, default=7),
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    sql = create_db_engine(database_url)
    METADATA.create_all(sql)
    yield sql
    sql.dispose()


@pytest.fixture
def threads(engine: Engine) -> Iterator[ConnectionThreads]:
    pool = ConnectionThreads(engine, 1, "test-bulk")
    yield pool
    pool.shutdown()


def _row(id_: str, **values: Any) -> dict[str, Any]:
    return {"id": id_, "n": None, "ok": None, "score": None, "data": None, **values}


def _read(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(ROWS).order_by(ROWS.c.seq)).mappings()
        return [{k: v for k, v in r.items() if k != "seq"} for r in found]


def test_rows_read_back_as_core_inserts_write_them(engine: Engine) -> None:
    rows = [
        _row("a", n=1, ok=True, score=0.5, data={"k": [1, "x"], "none": None}),
        _row("b", data=[]),
        _row("c", n=2**31 - 1, ok=False, score=-2.0, data={"text": "ünïcode 'quoted'"}),
    ]
    with engine.begin() as conn:
        insert_rows(conn, ROWS, rows[:1])  # one row
        insert_rows(conn, ROWS, rows[1:])  # several
        insert_rows(conn, ROWS, [])
    stored = _read(engine)
    with engine.begin() as conn:
        conn.execute(ROWS.delete())
        conn.execute(insert(ROWS).inline(), rows)
    assert stored == _read(engine) == rows


def test_json_none_is_stored_as_json_null_like_core(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_rows(conn, ROWS, [_row("a"), _row("b")])
    assert [r["data"] for r in _read(engine)] == [None, None]


def test_rows_go_in_the_transactions_of_the_database_threads(
    engine: Engine, threads: ConnectionThreads
) -> None:
    def write(conn: Connection) -> None:
        insert_rows(conn, ROWS, [_row(f"r{i}", n=i, data={"i": i}) for i in range(60)])

    threads.transaction(write)
    assert [r["n"] for r in _read(engine)] == list(range(60))


def test_a_failed_insert_raises_sqlalchemys_error_and_rolls_back(
    engine: Engine, threads: ConnectionThreads
) -> None:
    def write(conn: Connection) -> None:
        insert_rows(conn, ROWS, [_row("dup", data={}), _row("dup", data={})])
        conn.execute(select(ROWS.c.id)).all()  # collects a pipelined insert's answer

    with pytest.raises(IntegrityError):
        threads.transaction(write)
    threads.transaction(lambda conn: insert_rows(conn, ROWS, [_row("after", data={})]))
    assert [r["id"] for r in _read(engine)] == ["after"]


def test_columns_with_python_defaults_must_be_given(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="give the columns n"):
        insert_rows(conn, DEFAULTED, [{"id": "x"}])


def _children(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        found = conn.execute(select(CHILDREN.c.parent, CHILDREN.c.n).order_by(CHILDREN.c.seq))
        return [(parent, n) for parent, n in found]


def test_held_inserts_keep_foreign_keys_and_each_tables_order(
    engine: Engine, threads: ConnectionThreads
) -> None:
    def write(conn: Connection) -> int:
        insert_rows(conn, ROWS, [_row("p1", data={})])
        insert_rows(conn, CHILDREN, [{"parent": "p1", "n": 1}, {"parent": "p1", "n": 2}])
        insert_rows(conn, CHILDREN, [{"parent": "p1", "n": 3}])
        insert_rows(conn, ROWS, [_row("p2", data={})])  # the parents' table again
        insert_rows(conn, CHILDREN, [{"parent": "p2", "n": 4}])
        seen = conn.scalar(select(func.count()).select_from(CHILDREN))  # sees the held rows
        insert_rows(conn, CHILDREN, [{"parent": "p2", "n": 5}])
        return int(seen or 0)

    assert threads.transaction(write) == 4
    assert [r["id"] for r in _read(engine)] == ["p1", "p2"]
    assert _children(engine) == [("p1", 1), ("p1", 2), ("p1", 3), ("p2", 4), ("p2", 5)]


def test_held_inserts_of_a_failed_transaction_are_dropped(
    engine: Engine, threads: ConnectionThreads
) -> None:
    def write_then_fail(conn: Connection) -> None:
        insert_rows(conn, ROWS, [_row("gone", data={})])
        raise RuntimeError("the caller fails")

    with pytest.raises(RuntimeError):
        threads.transaction(write_then_fail)
    threads.transaction(lambda conn: insert_rows(conn, ROWS, [_row("kept", data={})]))
    assert [r["id"] for r in _read(engine)] == ["kept"]


def test_a_child_without_its_parent_fails_the_transaction(
    engine: Engine, threads: ConnectionThreads
) -> None:
    def orphan(conn: Connection) -> None:
        insert_rows(conn, ROWS, [_row("p", data={})])
        insert_rows(conn, CHILDREN, [{"parent": "nobody", "n": 1}])

    with pytest.raises(IntegrityError):
        threads.transaction(orphan)
    assert _read(engine) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_inserts_into_several_tables_are_one_statement(
    engine: Engine, threads: ConnectionThreads, tmp_path: Path
) -> None:
    def write(conn: Connection) -> None:
        insert_rows(conn, ROWS, [_row("p", data={})])
        insert_rows(conn, CHILDREN, [{"parent": "p", "n": n} for n in range(20)])

    # BEGIN, the inserts, COMMIT
    assert traced_messages(threads, write, tmp_path / "libpq.trace", "Bind") == 3
    assert len(_children(engine)) == 20
