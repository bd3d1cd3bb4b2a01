"""Rollout state, the controller's decisions, and comparison records, shared by every replica.

- ``RolloutState``: one row per gateway (``id`` is the gateway's name): the routing the gateway
  reads (mode, weight, phase, salt, version) and the controller's bookkeeping. Changes happen under
  a row lock, so replicas and operators never interleave half a decision.
- ``RolloutDecision``: the append-only audit log; every check, promotion, pause and rollback with
  the evidence it was taken on.
- ``RolloutEvacuation``: one conversation being moved from homeport to the managed side after a
  rollback (``on_rollback = "evacuate"``): where the copy stands, so a rerun resumes it.
- ``ComparisonRecord``: one pair of answers to the same turn (shadow traffic, an offline replay,
  or a noise pair of the baseline against itself) and, once scored, its verdict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from homeport.store.models.base import Base, Json, SeqMixin


class RolloutState(SeqMixin, Base):
    __tablename__ = "rollout_state"

    id: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    phase: Mapped[str] = mapped_column(String(64), default="")
    step_index: Mapped[int] = mapped_column(default=-1)
    salt: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(default=0)
    # Raised whenever pins move (evacuation): replicas then re-read the pins that changed.
    pins_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[float] = mapped_column(Float)
    step_started_at: Mapped[float] = mapped_column(Float)
    last_check_at: Mapped[float | None] = mapped_column(Float, default=None)
    failed_checks: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[float] = mapped_column(Float)


class RolloutDecision(SeqMixin, Base):
    __tablename__ = "rollout_decisions"
    __table_args__ = (Index("ix_rollout_decisions_rollout", "rollout_id", "seq"),)

    rollout_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    phase_before: Mapped[str] = mapped_column(String(64))
    phase_after: Mapped[str] = mapped_column(String(64))
    weight_before: Mapped[float] = mapped_column(Float)
    weight_after: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class RolloutEvacuation(SeqMixin, Base):
    """``status``: copying (transcript going to the managed side), switched (pin moved, late
    entries still to copy), done, failed (retried by the next run; ``error`` says why)."""

    __tablename__ = "rollout_evacuations"
    __table_args__ = (Index("ix_rollout_evacuations_status", "rollout_id", "status"),)

    rollout_id: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128), unique=True)  # homeport's ID
    kind: Mapped[str] = mapped_column(String(32))  # thread | conversation
    status: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(128), default=None)  # the managed ID
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    evidence: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)


class ComparisonRecord(SeqMixin, Base):
    __tablename__ = "comparison_records"
    __table_args__ = (
        Index("ix_comparison_records_rollout", "rollout_id", "kind", "created_at"),
        Index("ix_comparison_records_unscored", "scored_at", "seq"),
    )

    id: Mapped[str] = mapped_column(String(64), unique=True)
    rollout_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # "shadow" (live pair), "offline" (recorded answer vs replay), "noise" (baseline vs itself).
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    phase: Mapped[str] = mapped_column(String(64), default="")
    conversation_key: Mapped[str | None] = mapped_column(String(128), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    question: Mapped[str] = mapped_column(Text, default="")
    context: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    baseline: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    candidate: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    baseline_error: Mapped[bool] = mapped_column(Boolean, default=False)
    candidate_error: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    verdicts: Mapped[list[Any]] = mapped_column(Json, default=list)
    scored_at: Mapped[float | None] = mapped_column(Float, default=None)
    # The shadow pair as the gateway captured it (requests and raw answers), for replay and audit.
    raw: Mapped[dict[str, Any] | None] = mapped_column(Json, default=None)
