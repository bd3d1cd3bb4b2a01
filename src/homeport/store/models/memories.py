"""Agent memory imported from a managed platform: AgentCore Memory events.

``MemoryEvent`` is one event of one session of one actor in one memory (the memory an agent
writes to), keyed by all four IDs as the platform gives them. ``created_at`` is the event's
timestamp in Unix seconds; ``raw`` is the platform's event exactly as it was read (millisecond
timestamp, branch, metadata). Rows are read in (memory, actor, session, created_at, seq) order,
and ``seq`` keeps the platform's order among events of the same second.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from homeport.store.models.base import Base, Json, SeqMixin


class MemoryEvent(SeqMixin, Base):
    __tablename__ = "memory_events"
    __table_args__ = (
        UniqueConstraint("memory_id", "actor_id", "session_id", "id"),
        Index(
            "ix_memory_events_session", "memory_id", "actor_id", "session_id", "created_at", "seq"
        ),
    )

    id: Mapped[str] = mapped_column(String(128))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    memory_id: Mapped[str] = mapped_column(String(128))
    actor_id: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int]
    content: Mapped[list[Any]] = mapped_column(Json, default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
