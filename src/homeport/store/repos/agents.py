"""Agents: assistants of the Assistants API (and stored agent configurations)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session

from homeport.errors import not_found
from homeport.store.checks import STALE_AGENT, unless
from homeport.store.models import Agent, now
from homeport.store.repos.detached import by_project_id, detached, find_detached, find_row
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


_VERSION: ColumnElement[str] = literal_column("agents.xmin::text")
"""PostgreSQL's row version: the transaction that wrote the row (an update writes a new one)."""
_BY_ID_VERSIONED = _BY_ID.add_columns(_VERSION.label("row_version"))
_UNCHANGED = unless(
    exists().where(AGENTS.c.id == bindparam("p_id"), bindparam("p_version") == _VERSION),
    STALE_AGENT,
    "the assistant changed since this process cached it",
)


class AgentCache:
    """Assistants as last read, by project and ID, with their row version (PostgreSQL).

    Run creation looks its assistant up on every request: a read costs a round trip. A cached
    assistant costs none; instead the transaction gets a check (``store.checks``) that fails
    it with ``STALE_AGENT`` if the row has changed or gone since it was read, in any process.
    The caller then drops the cache (``clear``) and runs the transaction again, which reads
    afresh. SQLite reads in process, without a round trip: nothing is cached there.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._rows: dict[tuple[str, str], tuple[str, bytes]] = {}
        self._lock = threading.Lock()  # the engine's database threads share it

    def get(self, session: Session, *, project_id: str, agent_id: str) -> Agent:
        """``get_agent``, from the cache when it may be."""
        conn = session.connection()
        if conn.dialect.name != "postgresql":
            return get_agent(session, project_id=project_id, agent_id=agent_id)
        key = (project_id, agent_id)
        cached = self._rows.get(key)
        if cached is not None:
            version, row = cached
            conn.execute(_UNCHANGED, {"p_id": agent_id, "p_version": version})
            return detached(Agent, orjson.loads(row))  # a copy: callers may change it
        found = find_row(session, _BY_ID_VERSIONED, project_id, agent_id)
        if found is None:
            raise not_found("assistant", agent_id)
        fields = {str(key): value for key, value in found.items()}  # orjson takes plain str keys
        version = fields.pop("row_version")
        with self._lock:
            if len(self._rows) >= self._limit:
                del self._rows[next(iter(self._rows))]  # the oldest
            self._rows[key] = (version, orjson.dumps(fields))
        return detached(Agent, fields)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


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
