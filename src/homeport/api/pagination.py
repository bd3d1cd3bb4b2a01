"""OpenAI cursor pagination: ``limit`` 1-100, ``order``, ``after`` / ``before`` object IDs.

Rows are ordered by (created_at, seq): imported objects keep their original timestamps and still
page in a stable order. A page is read with Core and its rows handed back as detached model
instances (the renderers only read columns): loading them through the session's identity map
cost more than the query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from sqlalchemy import Select, and_, inspect, or_, select
from sqlalchemy.orm import Session

from homeport.errors import InvalidRequest
from homeport.store.repos.detached import detached

T = TypeVar("T")


@dataclass(frozen=True)
class PageParams:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


async def page_params(  # async: FastAPI would run a plain function on a thread
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: str | None = None,
    before: str | None = None,
) -> PageParams:
    return PageParams(limit=limit, order=order, after=after, before=before)


def paginate(
    session: Session, stmt: Select[Any], model: Any, params: PageParams
) -> tuple[list[Any], bool]:
    """Apply cursor, order and limit to ``stmt`` (a select of ``model`` already filtered to what
    the caller may see); returns the page and whether more rows follow it."""
    descending = params.order == "desc"
    for cursor, forward in ((params.after, True), (params.before, False)):
        if cursor is None:
            continue
        anchor = session.execute(
            select(model.created_at, model.seq).where(model.id == cursor)
        ).first()
        if anchor is None:
            name = "after" if forward else "before"
            raise InvalidRequest(f"No object found for cursor '{cursor}'.", param=name)
        later = forward != descending
        created, seq = anchor
        at, order = model.created_at, model.seq
        if later:
            cond = or_(at > created, and_(at == created, order > seq))
        else:
            cond = or_(at < created, and_(at == created, order < seq))
        stmt = stmt.where(cond)
    reverse = params.before is not None and params.after is None
    ascending = (not descending) != reverse
    keys = (model.created_at, model.seq)
    if not ascending:
        keys = (model.created_at.desc(), model.seq.desc())
    found = session.connection().execute(stmt.order_by(*keys).limit(params.limit + 1))
    mapped = inspect(model).mapper.class_
    rows = [detached(mapped, row._asdict()) for row in found]
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    if reverse:
        rows.reverse()
    return rows, has_more


def list_page(
    items: Sequence[T], has_more: bool, render: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    data = [render(item) for item in items]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
