"""The gateway's shared state: conversation pins, mirrored objects and per-side counters.

Several gateway replicas agree through these tables without talking to each other. A pin is
written once, before the ID it names is returned to any client. It changes only when an
evacuation moves its conversation to the managed side: then its ``epoch`` takes the rollout's new
pins epoch (``rollout_state.pins_epoch``), which tells every replica to re-read it, and
``gateway_id_map`` holds the managed side's IDs for the conversation's homeport IDs.
``gateway_replay`` is the shadow copies' memory, shared by every replica's shadow worker, and
``gateway_turns`` the turns their workers hold, which keep a conversation's copies in order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, Index, String, Text, UniqueConstraint, false
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
    # Created while the gateway was shadowing it to homeport: a copy of it is (or was) on its way,
    # so a replica's shadow worker waits for that copy before mirroring a later turn.
    shadowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class GatewayIdMap(SeqMixin, Base):
    """An object of an evacuated conversation: its homeport ID and its ID on the managed side
    (managed platforms assign their own IDs). ``kind``: thread, conversation, message, item;
    ``response``: a response of an evacuated chain and the managed response that carries the
    chain on from it (continued there, read on homeport); ``chain_member``: another response of
    such a chain, with no carrier yet (``target_id`` = ``source_id``; the gateway makes one when
    a client continues it, and the row becomes ``response``); ``run``: a run made on homeport
    before the move, not recreated (``target_id`` = ``source_id``): requests naming it stay on
    homeport."""

    __tablename__ = "gateway_id_map"
    __table_args__ = (Index("ix_gateway_id_map_conversation", "conversation", "seq"),)

    source_id: Mapped[str] = mapped_column(String(128), unique=True)
    target_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    conversation: Mapped[str] = mapped_column(String(128))  # the pin's conversation key


class GatewayReplay(SeqMixin, Base):
    """What a shadow copy left for the conversation's later copies, on any replica: keyed by the
    primary's ID (an object the copy created or extended, or the answer whose tool calls it
    saw), the candidate's own ID for it when they differ, the two sides' function calls of that
    answer (``{"primary": [[id, name, arguments], ...], "candidate": [...]}``), and ``broken``
    when the candidate does not hold it. A row's existence says the copy is finished, except a
    lease row (key ``<call id>#learning``): a worker is learning that call's two sides from a
    poll answer, and the row lapses a few seconds after the worker stops renewing it. Rows expire
    (``expires_at``, refreshed by every later turn) and are deleted by the shadow workers."""

    __tablename__ = "gateway_replay"
    __table_args__ = (
        UniqueConstraint("gateway", "key"),
        Index("ix_gateway_replay_expiry", "expires_at"),
    )

    gateway: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128))
    candidate_id: Mapped[str | None] = mapped_column(String(128), default=None)
    calls: Mapped[dict[str, Any] | None] = mapped_column(Json, default=None)
    broken: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[float] = mapped_column(Float)


class GatewayTurn(SeqMixin, Base):
    """A conversation turn whose shadow copy a worker holds (queued or running), so copies of
    the conversation's later turns on other replicas wait for it: ``at`` is when the proxy took
    the client's request (the client's order). The row is a lease: its worker renews it every
    second and deletes it when the copy ends; a dead worker's lapses (``expires_at``) within
    seconds, and the turn counts as lost. Rows whose ``conversation`` is ``#replica`` say a
    worker is alive (``turn`` is its token; ``at`` 1 when it writes its turns, 0 when it found
    itself alone and writes none)."""

    __tablename__ = "gateway_turns"
    __table_args__ = (
        UniqueConstraint("gateway", "turn"),
        Index("ix_gateway_turns_order", "gateway", "conversation", "at"),
        Index("ix_gateway_turns_expiry", "expires_at"),
    )

    gateway: Mapped[str] = mapped_column(String(128))
    turn: Mapped[str] = mapped_column(String(128))
    conversation: Mapped[str] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


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


class GatewayCarrierIntent(SeqMixin, Base):
    """A carrier a replica is making (``gateway.carriers``): written before the managed side is
    asked, given the carrier's ID (``carrier``) as soon as the managed side names it, and deleted
    with the carrier's record (or with the carrier, by a race's loser). A row older than the
    gateway's ``carrier_timeout_seconds`` is an attempt that never finished: any replica's sweep
    takes it and deletes its carrier, which nothing points to."""

    __tablename__ = "gateway_carrier_intents"
    __table_args__ = (Index("ix_gateway_carrier_intents_age", "created_at"),)

    token: Mapped[str] = mapped_column(String(64), unique=True)
    member: Mapped[str] = mapped_column(String(128), index=True)  # the recipe's key
    replica: Mapped[str] = mapped_column(String(128))
    carrier: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[float] = mapped_column(Float)
