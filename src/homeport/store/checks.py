"""Checks that fail inside PostgreSQL, so they cost no round trip of their own.

The run engine's PostgreSQL transactions are pipelined (``engine.dbthreads``): a statement whose
answer is read costs a round trip, one sent ``UNREAD`` does not. A check built here is a
statement that changes or reads what it must and raises, through ``homeport_raise`` (migration
0029), an error with a homeport SQLSTATE when what it checks no longer holds; the error reaches
the client at the statement or ``COMMIT`` that collects the transaction's answers, and the whole
transaction is rolled back. ``failed(exc, code)`` tells such an error from any other.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Executable, func, literal, select
from sqlalchemy.exc import DBAPIError

UNREAD = "homeport_unread"
"""Execution option of a statement whose answer is not read (PostgreSQL pipelines do not wait
for it: its error, if any, is raised by the statement or ``COMMIT`` that collects it)."""
LEASE_LOST = "HPL01"
"""A run's update found the run no longer held by the worker that wrote it."""
STALE_AGENT = "HPA01"
"""An assistant read from the cache was changed or deleted since it was read."""


def unless(found: ColumnElement[bool], code: str, message: str) -> Executable:
    """A statement, sent ``UNREAD``, that raises ``code`` with ``message`` if ``found`` (an
    ``EXISTS``, which may read a data-modifying CTE) is false."""
    fail = func.homeport_raise(literal(code), literal(message))
    return select(fail).where(~found).execution_options(**{UNREAD: True})


def failed(exc: DBAPIError, code: str) -> bool:
    """Whether ``exc`` is the failure of a check raising ``code``."""
    return getattr(exc.orig, "sqlstate", None) == code
