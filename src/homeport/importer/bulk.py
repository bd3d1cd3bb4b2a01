"""Bulk inserts that skip rows already present: one compiled INSERT, ``executemany`` at the
driver in batches; neither the ORM nor per-row SQLAlchemy parameter processing.

JSON columns are serialised once with orjson and bound as text (cast to JSONB on PostgreSQL;
``None`` becomes JSON ``null``, as the ORM's JSON type stores it); columns a row leaves out get
the model's defaults. Rows whose unique key exists are skipped (``ON CONFLICT DO
NOTHING``), so a batch can be written again after a crash and nothing is duplicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, Table, Text, cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
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
def json_columns(name: str) -> frozenset[str]:
    return frozenset(c.name for c in Base.metadata.tables[name].columns if _is_json(c))


@cache
def _defaults(name: str) -> tuple[tuple[str, Any], ...]:
    """Columns with a Python-side default: a constant, or a callable taking no arguments
    (``list``, ``dict``, ``now``), which SQLAlchemy wraps to take an unused context."""
    return tuple(
        (c.name, c.default)
        for c in Base.metadata.tables[name].columns
        if c.default is not None and (c.default.is_scalar or c.default.is_callable)
    )


def defaults(name: str, present: Row) -> list[tuple[str, Any]]:
    """Default values (as bound) for the columns ``present`` leaves out, once per batch."""
    names = json_columns(name)
    out = []
    for key, default in _defaults(name):
        if key not in present:
            value = default.arg if default.is_scalar else default.arg(None)
            out.append((key, orjson.dumps(value).decode() if key in names else value))
    return out


@cache
def _statement(name: str, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, bool]:
    """The INSERT for these columns, compiled once; and whether it takes positional params."""
    source = Base.metadata.tables[name]
    json_type: Any = _JsonText() if dialect.name == "postgresql" else Text()
    table = Table(
        name,
        Base.metadata.__class__(),
        *(Column(c, json_type if _is_json(source.c[c]) else source.c[c].type) for c in columns),
    )
    insert: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    compiled = insert(table).on_conflict_do_nothing().compile(dialect=dialect)
    return str(compiled), bool(compiled.positional)


def insert_missing(conn: Connection, name: str, rows: Sequence[Row]) -> int:
    """Insert ``rows`` (all with the same keys) into table ``name``; rows whose unique key exists
    are left alone. Returns how many were inserted."""
    if not rows:
        return 0
    missing = defaults(name, rows[0])
    columns = (*rows[0], *(k for k, _ in missing))
    sql, positional = _statement(name, columns, conn.dialect)
    names = json_columns(name)
    dumps = orjson.dumps
    params: list[Any] = []
    for row in rows:
        values = [dumps(v).decode() if k in names else v for k, v in row.items()]
        values.extend(v for _, v in missing)
        params.append(tuple(values) if positional else dict(zip(columns, values, strict=True)))
    result = conn.exec_driver_sql(sql, params)
    return max(0, int(result.rowcount))
