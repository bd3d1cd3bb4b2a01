"""Agents: assistants of the Assistants API (and stored agent configurations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Select, Table, delete, select, update
from sqlalchemy.orm import Session

from homeport.errors import not_found
from homeport.store.models import Agent, now
from homeport.store.repos.detached import by_project_id, find_detached
from homeport.store.repos.identity import assign_id

AGENTS = cast(Table, Agent.__table__)

# Columns a modify request may change; "metadata" is stored in ``metadata_``.
AGENT_FIELDS = frozenset(
    {
        "model",
        "name",
        "description",
        "instructions",
        "tools",
        "tool_resources",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
        "reasoning_effort",
    }
)


def _set(agent: Agent, fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - AGENT_FIELDS
    if unknown:
        raise ValueError(f"not agent fields: {sorted(unknown)}")
    for key, value in fields.items():
        setattr(agent, "metadata_" if key == "metadata" else key, value)


def create_agent(
    session: Session,
    *,
    project_id: str,
    model: str,
    fields: Mapping[str, Any] | None = None,
    agent_id: str | None = None,
    created_at: int | None = None,
) -> Agent:
    """Insert an assistant. ``fields`` holds any of ``AGENT_FIELDS`` besides ``model``;
    ``agent_id``/``created_at`` keep an imported assistant's identity (409 if the ID is taken)."""
    agent = Agent(
        id=assign_id(session, Agent, prefix="asst", object_id=agent_id),
        project_id=project_id,
        model=model,
        created_at=created_at if created_at is not None else now(),
        tools=[],
        tool_resources={},
        metadata_={},
        response_format=None,  # a JSON null: the column is NOT NULL
    )
    _set(agent, fields or {})
    session.add(agent)
    session.flush()
    return agent


_BY_ID = by_project_id(AGENTS)
"""Built once: run creation looks the assistant up on every request."""


def get_agent(session: Session, *, project_id: str, agent_id: str) -> Agent:
    """The project's assistant (detached), or 404 "No assistant found with id '…'."."""
    agent = find_detached(session, Agent, _BY_ID, project_id, agent_id)
    if agent is None:
        raise not_found("assistant", agent_id)
    return agent


def update_agent(session: Session, *, agent: Agent, fields: Mapping[str, Any]) -> Agent:
    """Replace the given fields (a modify request: lists and metadata are replaced whole)."""
    _set(agent, fields)
    if fields:
        session.connection().execute(
            update(AGENTS).where(AGENTS.c.id == agent.id).values(dict(fields))
        )
    return agent


def delete_agent(session: Session, *, project_id: str, agent_id: str) -> None:
    """Delete the project's assistant (404 if absent). Its threads and runs stay, as OpenAI's."""
    result = session.execute(
        delete(Agent).where(Agent.id == agent_id, Agent.project_id == project_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise not_found("assistant", agent_id)


def agents_query(*, project_id: str) -> Select[Agent]:
    """Every assistant of the project, unordered (paginate it)."""
    return select(Agent).where(Agent.project_id == project_id)
