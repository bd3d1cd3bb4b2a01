"""Hot inserts at the driver level: the statement text is made once, rows go straight to the
DBAPI cursor.

A run writes its thread, messages, run row, steps and events on every request; through
SQLAlchemy each insert costs an execution context, a result object and parameter processing in
Python, and on PostgreSQL every row of an ``executemany`` is its own statement on the wire. Here
the statement text is made once per table and column set (column types as the dialect's
compiler names them; each column's bind processor, JSON encoding included, is applied as
SQLAlchemy applies it), and then:

- SQLite: ``executemany`` on the driver's cursor (one C loop over the rows);
- PostgreSQL: all rows of a batch in one multi-row ``INSERT … VALUES (…), (…)``, through
  psycopg's ``RawCursor`` (``$1`` placeholders: no client-side parsing of the query, whatever
  its length). On a connection that defers (``defer``: the engine's pipelined transactions),
  inserts are held until the next statement SQLAlchemy executes on it (or ``flush``), and the
  batches held by then go in ONE statement, each table's rows a data-modifying ``WITH``
  (``WITH w0 AS (INSERT INTO threads …), w1 AS (INSERT INTO items …) INSERT INTO runs …``):
  one statement on the wire and for the server instead of one per table. Foreign keys are
  checked at the end of that statement, so a run's events may go with the run. A table whose
  rows would come after another table's in the same statement flushes first, so the rows of one
  table are inserted in the order they were given (their ``seq`` keeps that order).

The rows are plain inserts: every column without a server-side value must be given (Python-side
column defaults are not applied), and nothing is returned. Driver errors are raised as
SQLAlchemy's ``DBAPIError`` subclasses, a lost connection invalidated, as ``Connection.execute``
does; the error of a deferred insert is raised by the statement that writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

CURSOR = "homeport.bulk.cursor"
"""``Connection.info`` key of the driver cursor kept for these inserts (with its connection)."""
DEFERRED = "homeport.bulk.deferred"
"""``Connection.info`` key of the batches held for the next statement (see ``defer``)."""
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Insert:
    table: Table
    head: str
    """``INSERT INTO t (a, b) VALUES `` (PostgreSQL), or the one-row statement (SQLite)."""
    types: tuple[str, ...] | None
    """Each column's SQL type, for its placeholder's cast (PostgreSQL); None: ``executemany``."""
    fields: tuple[tuple[str, Processor], ...]
    """Row keys in parameter order, each with its column's bind processor."""


Batch = tuple[_Insert, list[Mapping[str, Any]]]


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys, the column names) into ``table`` in ``conn``'s
    transaction. If ``conn`` defers they are held until its next statement: the row mappings
    must not change until then."""
    if not rows:
        return
    plan = _plan(conn.dialect, table, tuple(rows[0]))
    if plan.types is None:
        cursor = _cursor(conn)
        groups = [_params(plan.fields, row) for row in rows]
        _run(conn, cursor, cursor.executemany, plan.head, groups)
        return
    held: list[Batch] | None = conn.info.get(DEFERRED)
    if held is None:
        _write(conn, [(plan, list(rows))])
        return
    if held and held[-1][0] is plan:
        held[-1][1].extend(rows)
        return
    if any(p.table is table for p, _ in held):  # keep one table's rows in order
        flush(conn)
    held.append((plan, list(rows)))


def defer(conn: Connection) -> None:
    """Hold this connection's inserts until the next statement SQLAlchemy executes on it, or
    ``flush`` (PostgreSQL; the caller clears them with ``discard`` if it rolls back)."""
    if conn.dialect.paramstyle == "qmark":
        return
    if not event.contains(conn, "before_cursor_execute", _before_statement):
        event.listen(conn, "before_cursor_execute", _before_statement)
    conn.info[DEFERRED] = []


def flush(conn: Connection) -> None:
    """Write the inserts held on ``conn`` (one statement)."""
    held: list[Batch] | None = conn.info.get(DEFERRED)
    if held:
        batches = held[:]
        held.clear()
        _write(conn, batches)


def discard(conn: Connection) -> None:
    """Stop deferring on ``conn`` and drop what is held (its transaction is rolled back)."""
    conn.info.pop(DEFERRED, None)


def _before_statement(conn: Connection, *_: Any) -> None:
    flush(conn)


def _write(conn: Connection, batches: list[Batch]) -> None:
    params: list[Any] = []
    parts: list[str] = []
    for plan, rows in batches:
        assert plan.types is not None
        width = len(plan.fields)
        groups = [_row_sql(plan.types, len(params) + i * width) for i in range(len(rows))]
        for row in rows:
            params += _params(plan.fields, row)
        parts.append(plan.head + ", ".join(groups))
    *ctes, main = parts
    sql = main
    if ctes:
        sql = "WITH " + ", ".join(f"w{i} AS ({cte})" for i, cte in enumerate(ctes)) + " " + main
    cursor = _cursor(conn)
    _run(conn, cursor, cursor.execute, sql, params)


@cache
def _row_sql(types: tuple[str, ...], offset: int) -> str:
    """One row's ``($1::T, $2::U)``, its parameters numbered from ``offset + 1``."""
    return "(" + ", ".join(f"${offset + i}::{t}" for i, t in enumerate(types, 1)) + ")"


def _params(fields: tuple[tuple[str, Processor], ...], row: Mapping[str, Any]) -> list[Any]:
    """A row's parameters, in ``fields`` order, through their bind processors."""
    return [row[key] if proc is None else proc(row[key]) for key, proc in fields]


@cache
def _plan(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Insert:
    columns = {c.name: c for c in table.c}
    missing = [c.name for c in table.c if c.name not in keys and c.default is not None]
    if missing:  # Core would fill them in; here every such column is given
        raise ValueError(f"insert_rows into {table.name}: give the columns {', '.join(missing)}")
    fields = tuple(
        (key, columns[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in keys
    )
    if dialect.paramstyle == "qmark":
        one = insert(table).inline().compile(dialect=dialect, column_keys=list(keys)).string
        return _Insert(table, one, None, fields)
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(key) for key in keys)
    types = tuple(columns[key].type.compile(dialect=dialect) for key in keys)
    head = f"INSERT INTO {quote.format_table(table)} ({names}) VALUES "
    return _Insert(table, head, types, fields)


def _cursor(conn: Connection) -> Any:
    """The driver cursor kept on this connection (made again for a new driver connection):
    psycopg's ``RawCursor`` on PostgreSQL."""
    driver = conn.connection.driver_connection
    kept = conn.info.get(CURSOR)
    if kept is None or kept[0] is not driver:
        assert driver is not None
        if conn.dialect.paramstyle == "qmark":
            cursor = driver.cursor()
        else:
            from psycopg import RawCursor

            cursor = RawCursor(driver)
        kept = conn.info[CURSOR] = (driver, cursor)
    return kept[1]


def _run(conn: Connection, cursor: Any, method: Callable[..., Any], sql: str, params: Any) -> None:
    """``method(sql, params)`` (the cursor's), its driver errors raised as SQLAlchemy's."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        method(sql, params)
    except dbapi.Error as exc:
        raw = conn.connection.dbapi_connection
        gone = conn.dialect.is_disconnect(exc, raw, cursor)
        if gone:
            conn.info.pop(CURSOR, None)
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, params, exc, dbapi.Error, connection_invalidated=gone, dialect=conn.dialect
        ) from exc
