"""Bulk inserts that skip rows already present: Core ``executemany`` in batches, not the ORM.

JSON columns are serialised once with orjson and bound as text (cast to JSONB on PostgreSQL;
``None`` becomes JSON ``null``, as the ORM's JSON type stores it),
which is about twice as fast as SQLAlchemy's JSON type on the import path. Rows whose unique key
exists are skipped (``INSERT OR IGNORE`` / ``ON CONFLICT DO NOTHING``), so a batch can be
written again after a crash and nothing is duplicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, MetaData, Table, Text, cast, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from homeport.store.models import Base

Row = dict[str, Any]


class _JsonText(TypeDecorator[str]):
    """A JSON value already serialised to text; PostgreSQL casts it to JSONB."""

    impl = Text
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any]:
        return cast(bindvalue, JSONB)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)


@cache
def fast_table(name: str, dialect: str) -> Table:
    """A copy of ``name`` for inserting rows with pre-serialised JSON (defaults kept, so
    columns a row leaves out get the model's defaults)."""
    source = Base.metadata.tables[name]
    json_type: Any = _JsonText() if dialect == "postgresql" else Text()
    columns = [
        Column(
            c.name,
            json_type if _is_json(c) else c.type,
            default=c.default.arg if c.default is not None else None,  # type: ignore[attr-defined]
        )
        for c in source.columns
        if c.name != "seq"
    ]
    return Table(name, MetaData(), *columns)


@cache
def json_columns(name: str) -> frozenset[str]:
    return frozenset(c.name for c in Base.metadata.tables[name].columns if _is_json(c))


def serialise(name: str, rows: Sequence[Row]) -> list[Row]:
    names = json_columns(name)
    return [
        {k: (orjson.dumps(v).decode() if k in names else v) for k, v in r.items()} for r in rows
    ]


def insert_missing(conn: Connection, name: str, rows: Sequence[Row]) -> int:
    """Insert ``rows`` into table ``name``; rows whose unique key exists are left alone.
    Returns how many were inserted."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    table = fast_table(name, dialect)
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    present = _present(conn, name, rows)
    conn.execute(stmt, serialise(name, rows))
    return len(rows) - present


def _present(conn: Connection, name: str, rows: Sequence[Row]) -> int:
    """How many of ``rows`` exist already (executemany rowcounts are not reliable across
    drivers, and RETURNING makes SQLite inserts several times slower)."""
    table = Base.metadata.tables[name]
    if name == "vector_store_files":
        keys = [(r["vector_store_id"], r["id"]) for r in rows]
        condition = tuple_(table.c.vector_store_id, table.c.id).in_(keys)
    else:
        condition = table.c.id.in_([r["id"] for r in rows])
    return int(conn.scalar(select(func.count()).select_from(table).where(condition)) or 0)
