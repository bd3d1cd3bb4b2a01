"""Rollout state in the store: the routing every gateway replica reads, and the audit log.

``store_routing`` is the gateway's routing seam (``STORE_ROUTING_FACTORY``). Writers change a
rollout only through ``locked`` (a row lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and
record each change with ``decide``, so replicas and operators never interleave half a decision.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from homeport.gateway.seams import Mode, RoutingState
from homeport.store.db import Database
from homeport.store.models.rollout import RolloutDecision, RolloutState

IDLE, RUNNING, PAUSED, ROLLED_BACK, COMPLETED = (
    "idle",
    "running",
    "paused",
    "rolled_back",
    "completed",
)


def routing_of(row: RolloutState) -> RoutingState:
    return RoutingState(
        mode=Mode(row.mode),
        weight=row.weight,
        phase=row.phase,
        salt=row.salt,
        version=row.version,
        updated_at=row.updated_at,
        pins_epoch=row.pins_epoch,
    )


@dataclass
class StoreRouting:
    """The gateway's ``RoutingSource``: one indexed read per refresh."""

    db: Database
    rollout_id: str

    def read(self) -> RoutingState | None:
        with self.db.sessions() as session:
            row = session.scalars(
                select(RolloutState).where(RolloutState.id == self.rollout_id)
            ).first()
            return routing_of(row) if row is not None else None


def store_routing(db: Database, gateway_name: str) -> StoreRouting:
    return StoreRouting(db, gateway_name)


def new_state(rollout_id: str, now: float) -> RolloutState:
    return RolloutState(
        id=rollout_id,
        status=IDLE,
        mode=Mode.PASSTHROUGH.value,
        weight=0.0,
        phase="passthrough",
        step_index=-1,
        salt=secrets.token_hex(8),
        version=0,
        started_at=now,
        step_started_at=now,
        failed_checks=0,
        pins_epoch=0,
        updated_at=now,
    )


@contextmanager
def locked(db: Database, rollout_id: str, now: float) -> Iterator[tuple[Session, RolloutState]]:
    """The rollout's row, locked for the transaction (created idle if it does not exist)."""
    with db.session() as session:
        row = session.scalars(
            select(RolloutState).where(RolloutState.id == rollout_id).with_for_update()
        ).first()
        if row is None:
            row = new_state(rollout_id, now)
            session.add(row)
            session.flush()
        yield session, row


def decide(
    session: Session,
    row: RolloutState,
    *,
    now: float,
    action: str,
    actor: str,
    reason: str,
    evidence: dict[str, Any],
    change: Callable[[RolloutState], None] | None = None,
) -> RolloutDecision:
    """Apply ``change`` to the state (bumping its version if the routing moved) and log it."""
    before_phase, before_weight = row.phase, row.weight
    before = (row.mode, row.weight, row.phase, row.salt)
    if change is not None:
        change(row)
    if (row.mode, row.weight, row.phase, row.salt) != before:
        row.version += 1
    row.updated_at = now
    decision = RolloutDecision(
        rollout_id=row.id,
        at=now,
        action=action,
        actor=actor,
        phase_before=before_phase,
        phase_after=row.phase,
        weight_before=before_weight,
        weight_after=row.weight,
        reason=reason,
        evidence=evidence,
    )
    session.add(decision)
    return decision


def decision_dict(decision: RolloutDecision) -> dict[str, Any]:
    """A decision as JSON (``homeport rollout ... --json``, reports)."""
    return {
        "at": decision.at,
        "action": decision.action,
        "actor": decision.actor,
        "phase_before": decision.phase_before,
        "phase_after": decision.phase_after,
        "weight_before": decision.weight_before,
        "weight_after": decision.weight_after,
        "reason": decision.reason,
        "evidence": decision.evidence,
    }


def decisions(db: Database, rollout_id: str, limit: int = 50) -> list[RolloutDecision]:
    """The newest ``limit`` decisions, oldest first."""
    with db.sessions() as session:
        rows = session.scalars(
            select(RolloutDecision)
            .where(RolloutDecision.rollout_id == rollout_id)
            .order_by(RolloutDecision.seq.desc())
            .limit(limit)
        ).all()
        return list(reversed(rows))


def current(db: Database, rollout_id: str) -> RolloutState | None:
    with db.sessions() as session:
        return session.scalars(select(RolloutState).where(RolloutState.id == rollout_id)).first()
