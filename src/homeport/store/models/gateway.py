"""The gateway's shared state: conversation pins, mirrored objects and per-side counters.

Several gateway replicas agree through these tables without talking to each other. A pin is
written once, before the ID it names is returned to any client. It changes only when an
evacuation moves its conversation to the managed side: then its ``epoch`` takes the rollout's new
pins epoch (``rollout_state.pins_epoch``), which tells every replica to re-read it, and
``gateway_id_map`` holds the managed side's IDs for the conversation's homeport IDs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from homeport.store.models.base import Base, Json, SeqMixin, now


class GatewayPin(SeqMixin, Base):
    """Which side owns a conversation-like object (thread, conversation or stored response)."""

    __tablename__ = "gateway_pins"
    __table_args__ = (Index("ix_gateway_pins_epoch", "gateway", "epoch"),)

    key: Mapped[str] = mapped_column(String(128), unique=True)
    side: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    # The conversation the object belongs to: its own ID, or the first response of a chain.
    conversation: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(default=now)
    # The gateway (rollout) that wrote it: several gateways may share one database.
    gateway: Mapped[str] = mapped_column(String(128), default="default", server_default="default")
    # 0, or the pins epoch at which the conversation moved to the managed side (its ID map then
    # applies to every request naming it, and to objects created in it afterwards).
    epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class GatewayIdMap(SeqMixin, Base):
    """An object of an evacuated conversation: its homeport ID and its ID on the managed side
    (managed platforms assign their own IDs). ``kind``: thread, conversation, message, item."""

    __tablename__ = "gateway_id_map"
    __table_args__ = (Index("ix_gateway_id_map_conversation", "conversation", "seq"),)

    source_id: Mapped[str] = mapped_column(String(128), unique=True)
    target_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    conversation: Mapped[str] = mapped_column(String(128))  # the pin's conversation key


class GatewayObject(SeqMixin, Base):
    """An object written to both sides with the same ID (assistant, file, vector store).

    ``status`` is ``mirrored`` when both sides hold it, ``missing`` when the second write failed
    (the list to repair before moving traffic), ``deleted`` after a delete reached both sides.
    """

    __tablename__ = "gateway_objects"

    object_id: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    primary: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[int] = mapped_column(default=now)


class GatewaySideStats(SeqMixin, Base):
    """One replica's counters for one side and role over one window (see gateway.seams)."""

    __tablename__ = "gateway_side_stats"
    __table_args__ = (Index("ix_gateway_side_stats_window", "window_start", "side"),)

    replica: Mapped[str] = mapped_column(String(128))
    side: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[float] = mapped_column(Float)
    window_seconds: Mapped[float] = mapped_column(Float)
    requests: Mapped[int] = mapped_column()
    errors: Mapped[int] = mapped_column()
    latency_buckets: Mapped[list[Any]] = mapped_column(Json)
    ttft_buckets: Mapped[list[Any]] = mapped_column(Json)
    input_tokens: Mapped[int] = mapped_column()
    output_tokens: Mapped[int] = mapped_column()
