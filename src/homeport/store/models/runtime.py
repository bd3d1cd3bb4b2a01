"""The one state model behind both OpenAI protocols (see docs/protocol-mapping.md).

- ``Agent``: an assistant (Assistants API) or a stored agent configuration.
- ``Conversation``: a thread (``thread_…``) or a conversation (``conv_…``); same table, either
  protocol reads either.
- ``Item``: a message, function call, function call output, file search call or reasoning item.
  Thread messages are the items of type ``message``; conversation items are all of them.
- ``Run``: an Assistants run (``run_…``) or a response (``resp_…``); the runs table is also the
  engine's queue (lease columns).
- ``RunStep``: Assistants run steps; ``RunEvent``: the append-only event log streaming reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from homeport.store.models.base import Base, Json, SeqMixin, now


class Agent(SeqMixin, Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(default=now)
    name: Mapped[str | None] = mapped_column(String(256), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text, default=None)
    tools: Mapped[list[Any]] = mapped_column(Json, default=list)
    tool_resources: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    temperature: Mapped[float | None] = mapped_column(Float, default=None)
    top_p: Mapped[float | None] = mapped_column(Float, default=None)
    response_format: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    reasoning_effort: Mapped[str | None] = mapped_column(String(32), default=None)


class Conversation(SeqMixin, Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(default=now)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    tool_resources: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class Item(SeqMixin, Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_conversation_order", "conversation_id", "created_at", "seq"),
        Index("ix_items_response", "response_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), default=None
    )
    # The run or response that produced this item (output) or was given it (input).
    response_id: Mapped[str | None] = mapped_column(String(64), default=None)
    io: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[int] = mapped_column(default=now)
    type: Mapped[str] = mapped_column(String(32))
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    content: Mapped[list[Any]] = mapped_column(Json, default=list)
    attachments: Mapped[list[Any]] = mapped_column(Json, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    completed_at: Mapped[int | None] = mapped_column(default=None)
    incomplete_at: Mapped[int | None] = mapped_column(default=None)
    incomplete_details: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    # Type-specific fields: call_id/name/arguments, output, queries/results, summary, ...
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class Run(SeqMixin, Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_queue", "status", "lease_expires_at"),
        Index("ix_runs_conversation", "conversation_id", "created_at", "seq"),
    )

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "run" | "response"
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), default=None
    )
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text, default=None)
    tools: Mapped[list[Any]] = mapped_column(Json, default=list)
    tool_resources: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # Sampling and limits: temperature, top_p, response_format/text, tool_choice, max_*_tokens,
    # truncation(_strategy), parallel_tool_calls, include, reasoning, user, ...
    params: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    required_action: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    last_error: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    incomplete_details: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    usage: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    created_at: Mapped[int] = mapped_column(default=now)
    started_at: Mapped[int | None] = mapped_column(default=None)
    expires_at: Mapped[int | None] = mapped_column(default=None)
    cancelled_at: Mapped[int | None] = mapped_column(default=None)
    failed_at: Mapped[int | None] = mapped_column(default=None)
    completed_at: Mapped[int | None] = mapped_column(default=None)
    previous_response_id: Mapped[str | None] = mapped_column(String(64), default=None)
    store: Mapped[bool] = mapped_column(Boolean, default=True)
    background: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, default=None)
    attempts: Mapped[int] = mapped_column(default=0)


class RunStep(SeqMixin, Base):
    __tablename__ = "run_steps"
    __table_args__ = (Index("ix_run_steps_run", "run_id", "created_at", "seq"),)

    id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    step_details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    last_error: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    usage: Mapped[Any] = mapped_column(Json, nullable=True, default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    created_at: Mapped[int] = mapped_column(default=now)
    expired_at: Mapped[int | None] = mapped_column(default=None)
    cancelled_at: Mapped[int | None] = mapped_column(default=None)
    failed_at: Mapped[int | None] = mapped_column(default=None)
    completed_at: Mapped[int | None] = mapped_column(default=None)


class RunEvent(SeqMixin, Base):
    """One server-sent event of a run, in order; ``n`` is its number within the run."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "n"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    n: Mapped[int]
    event: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
