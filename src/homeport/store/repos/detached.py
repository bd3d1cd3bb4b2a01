"""Rows written with Core statements, handed back as ORM instances.

Hot paths (a run's thread and messages are made on every create-thread-and-run) insert with a
statement built once instead of going through the session's unit of work; the renderers still
read model instances, so the row comes back as a detached one.
"""

from __future__ import annotations

from typing import Any, TypeVar

M = TypeVar("M")


def detached(model: type[M], row: dict[str, Any]) -> M:
    """``row`` (keyed by column name) as a detached instance of ``model``; the ``metadata``
    column is the ``metadata_`` attribute."""
    return model(**{"metadata_" if key == "metadata" else key: v for key, v in row.items()})
