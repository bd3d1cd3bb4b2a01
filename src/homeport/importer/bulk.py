"""Bulk inserts that skip rows already present, in two forms:

- ``insert_missing``: rows built in Python; one compiled INSERT, ``executemany`` at the driver.
  JSON columns are serialised once with orjson and bound as text (cast to JSONB on PostgreSQL).
- ``insert_lines``: the bundle's JSON lines as they are, for parts mapped field by field
  (``rows.MAPPED``); the database picks the fields out (SQLite's JSON functions, one line per
  row; PostgreSQL's ``jsonb_array_elements`` over the whole batch in one statement), so no
  Python object is made per record. The SQL is compiled from the same mapping reconcile
  applies in Python, and rows keep the lines' order.

In both, ``None`` in a JSON column becomes JSON ``null`` (as the ORM's JSON type stores it),
columns a row leaves out get the model's defaults, and rows whose unique key exists are skipped
(``ON CONFLICT DO NOTHING``), so a batch can be written again after a crash and nothing is
duplicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Connection, Table, Text, cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from homeport.importer.rows import MAPPED, Field
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


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


@dataclass(frozen=True)
class _JsonSql:
    """How one dialect reads a field of the JSON value ``j``."""

    json: str  # the field as JSON
    scalar: str  # the field as an SQL value
    type_of: str  # the field's JSON type: 'array', 'object', ...
    literal: str  # a JSON literal

    def field(self, field: Field, column: Column[Any], cast: str) -> str:
        key = field.source
        if _is_json(column):
            if isinstance(field.default, list | dict):
                kind, empty = (
                    ("array", "[]") if isinstance(field.default, list) else ("object", "{}")
                )
                return (
                    f"CASE {self.type_of.format(key)} WHEN '{kind}' THEN {self.json.format(key)} "
                    f"ELSE {self.literal.format(empty)} END"
                )
            return f"coalesce({self.json.format(key)}, {self.literal.format('null')})"
        value = self.scalar.format(key) + cast
        if field.default is None:
            return value
        falsy = "''" if isinstance(field.default, str) else "0"
        return f"coalesce(nullif({value}, {falsy}), {_literal(field.default)})"


_SQLITE = _JsonSql("j -> '$.\"{}\"'", "j ->> '$.\"{}\"'", "json_type(j, '$.\"{}\"')", "'{}'")
_POSTGRES = _JsonSql("j -> '{}'", "(j ->> '{}')", "jsonb_typeof(j -> '{}')", "'{}'::jsonb")


def _postgres_cast(column: Column[Any]) -> str:
    python = column.type.python_type
    if python is bool:
        return "::boolean"
    if python is int:
        return "::numeric::bigint"
    if python is float:
        return "::double precision"
    return ""


@cache
def _lines_statement(part: str, table: str, constants: tuple[str, ...], dialect: str) -> str:
    """INSERT ... SELECT of one line (SQLite) or of a JSON array of lines (PostgreSQL); the
    ``constants`` columns are bound first, the line or array last."""
    columns = Base.metadata.tables[table].c
    fields = MAPPED[part]
    names = ", ".join(f'"{name}"' for name in (*(f.column for f in fields), *constants))
    if dialect == "postgresql":
        marks = ["%s::jsonb" if _is_json(columns[name]) else "%s" for name in constants]
        values = [
            _POSTGRES.field(f, columns[f.column], _postgres_cast(columns[f.column])) for f in fields
        ]
        return (
            f'INSERT INTO "{table}" ({names}) SELECT {", ".join([*values, *marks])} '
            "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS t(j, n) ORDER BY n "
            "ON CONFLICT DO NOTHING"
        )
    values = [_SQLITE.field(f, columns[f.column], "") for f in fields]
    return (
        f'INSERT INTO "{table}" ({names}) SELECT {", ".join([*values, *("?" for _ in constants)])} '
        "FROM (SELECT ? AS j) WHERE true ON CONFLICT DO NOTHING"
    )


def insert_lines(
    conn: Connection, part: str, table: str, lines: Sequence[bytes], constants: Row
) -> int:
    """Insert the records of ``part`` given as JSON ``lines`` into ``table``, with the same
    ``constants`` (e.g. ``project_id``) in every row; rows whose unique key exists are left
    alone. Returns how many were inserted."""
    if not lines:
        return 0
    values = {**constants, **dict(defaults(table, {**constants, **_fields(part)}))}
    names = tuple(values)
    sql = _lines_statement(part, table, names, conn.dialect.name)
    fixed = tuple(values.values())
    if conn.dialect.name == "postgresql":
        batch = b"[" + b",".join(lines) + b"]"
        result = conn.exec_driver_sql(sql, (*fixed, batch.decode()))
    else:
        result = conn.exec_driver_sql(sql, [(*fixed, line.decode()) for line in lines])
    return max(0, int(result.rowcount))


@cache
def _fields(part: str) -> dict[str, None]:
    return dict.fromkeys(f.column for f in MAPPED[part])
