"""Complete column dicts for rows the engine inserts with Core statements (JSON columns are
NOT NULL, so every one is given: ``None`` is stored as JSON null)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table

from homeport.store.models import Item, Run, RunEvent, RunStep
from homeport.store.repos import items

ITEMS = cast(Table, Item.__table__)
RUNS = cast(Table, Run.__table__)
STEPS = cast(Table, RunStep.__table__)
RUN_EVENTS = cast(Table, RunEvent.__table__)


def item_row(
    *,
    project_id: str,
    type: str,
    created_at: int,
    conversation_id: str | None = None,
    run_id: str | None = None,
    agent_id: str | None = None,
    io: str | None = "output",
    role: str | None = None,
    status: str | None = "completed",
    content: list[Any] | None = None,
    data: dict[str, Any] | None = None,
    item_id: str | None = None,
) -> dict[str, Any]:
    """An ``items`` row a run writes; ``run_id`` is also the ``response_id`` (the run that made
    or took it), and a completed item is completed when it is made."""
    return items.item_row(
        project_id=project_id,
        type=type,
        created_at=created_at,
        conversation_id=conversation_id,
        response_id=run_id,
        io=io,
        role=role,
        status=status,
        content=content or (),
        agent_id=agent_id,
        run_id=run_id,
        completed_at=created_at if status == "completed" else None,
        data=data,
        item_id=item_id,
    )
