"""Rows read or written with Core statements, handed back as ORM instances.

Hot paths (a run's thread and messages are made on every create-thread-and-run; pages of
messages are read on every list) go around the session's unit of work and identity map; the
renderers still read model instances, so each row comes back as a detached one. Its values go
straight into the instance's ``__dict__``, as the ORM's own loader puts them: the model's
constructor would fire an attribute event for every column (a third of a message list's time).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import manager_of_class

M = TypeVar("M")


def detached(model: type[M], row: dict[str, Any]) -> M:
    """``row`` (keyed by column name) as a detached instance of ``model``; the ``metadata``
    column is the ``metadata_`` attribute."""
    instance: M = manager_of_class(model).new_instance()
    values = instance.__dict__
    for key, value in row.items():
        values["metadata_" if key == "metadata" else key] = value
    return instance


def by_project_id(table: Table) -> Select[Any]:
    """A read of one row by ``p_id`` within project ``p_project``, to build once per table."""
    return select(table).where(
        table.c.id == bindparam("p_id"), table.c.project_id == bindparam("p_project")
    )


def find_row(
    session: Session, stmt: Select[Any], project_id: str, object_id: str
) -> dict[str, Any] | None:
    """The row ``stmt`` (from ``by_project_id``, maybe with columns added) finds, keyed by
    column name; None if there is none."""
    found = session.connection().execute(stmt, {"p_id": object_id, "p_project": project_id})
    row = found.first()
    return None if row is None else row._asdict()


def find_detached(
    session: Session, model: type[M], stmt: Select[Any], project_id: str, object_id: str
) -> M | None:
    """The row ``stmt`` (from ``by_project_id``) finds, detached; None if there is none."""
    row = find_row(session, stmt, project_id, object_id)
    return None if row is None else detached(model, row)
