"""The store's side of making a carrier: an intent row from before the managed side is asked
until the carrier is recorded (or deleted), so that no carrier is left that nothing points to.

An attempt writes its intent (``intend``), gives it the carrier's ID the moment the managed side
names one (``name``), and records the carrier (``record_carrier``), which deletes the intent in
the same transaction. A race's loser keeps its intent until it has deleted its own carrier
(``forget``). A sweep (``claim_stale``) takes intents older than the attempts' time limit: one
whose attempt is still going (slow, not dead) then finds its intent gone and does not record its
carrier, so a sweep never deletes a carrier in use.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select, update

from homeport.gateway.translate import CHAIN_MEMBER
from homeport.ids import new_id
from homeport.rollout.transcripts import ChainTranscript
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayCarrierIntent, GatewayIdMap


class IntentSwept(Exception):
    """A sweep took the attempt's intent: its carrier is not recorded (the sweep deletes it)."""


def intend(db: Database, member: str, replica: str) -> str:
    """Record that ``replica`` is about to make a carrier for ``member``; the intent's token."""
    token = new_id("carrier_")
    with db.session() as session:
        session.add(
            GatewayCarrierIntent(
                token=token, member=member, replica=replica, created_at=time.time()
            )
        )
    return token


def name(db: Database, intent: str, carrier: str) -> None:
    """The managed side named the attempt's carrier (nothing to do when a sweep took it)."""
    with db.session() as session:
        session.execute(
            update(GatewayCarrierIntent)
            .where(GatewayCarrierIntent.token == intent)
            .values(carrier=carrier)
        )


def forget(db: Database, intent: str) -> None:
    """The attempt ended with no carrier left over (none made, or its own deleted)."""
    with db.session() as session:
        session.execute(delete(GatewayCarrierIntent).where(GatewayCarrierIntent.token == intent))


def record_carrier(db: Database, member: str, carrier: str, intent: str | None = None) -> str:
    """Record ``carrier`` as continuing ``member``; returns the carrier in force (an earlier
    writer's, when another replica recorded one first). ``intent``: the attempt's, deleted with
    the record; raises :class:`IntentSwept` (recording nothing) when a sweep took it."""
    with db.session() as session:
        won = session.execute(
            update(GatewayIdMap)
            .where(GatewayIdMap.source_id == member, GatewayIdMap.kind == CHAIN_MEMBER)
            .values(kind=ChainTranscript.kind, target_id=carrier)
        )
        if won.rowcount:  # type: ignore[attr-defined]
            if intent is not None:
                kept = session.execute(
                    delete(GatewayCarrierIntent).where(GatewayCarrierIntent.token == intent)
                )
                if not kept.rowcount:  # type: ignore[attr-defined]
                    raise IntentSwept(intent)  # rolls the record back
            return carrier
        return session.scalars(
            select(GatewayIdMap.target_id).where(
                GatewayIdMap.source_id == member, GatewayIdMap.kind == ChainTranscript.kind
            )
        ).one()


def claim_stale(
    db: Database, older_than: float, member: str | None = None
) -> list[GatewayCarrierIntent]:
    """Take the intents written before ``older_than`` (epoch seconds), of ``member`` or all:
    each is deleted here, and belongs to this caller alone."""
    with db.session() as session:
        query = select(GatewayCarrierIntent).where(GatewayCarrierIntent.created_at < older_than)
        if member is not None:
            query = query.where(GatewayCarrierIntent.member == member)
        claimed = []
        for row in session.scalars(query.order_by(GatewayCarrierIntent.seq)).all():
            taken = session.execute(
                delete(GatewayCarrierIntent).where(GatewayCarrierIntent.seq == row.seq)
            )
            if taken.rowcount:  # type: ignore[attr-defined]
                claimed.append(row)
        session.expunge_all()
    return claimed


def restore(db: Database, intent: GatewayCarrierIntent) -> None:
    """Put back a claimed intent whose carrier could not be deleted (the next sweep retries)."""
    with db.session() as session:
        session.add(
            GatewayCarrierIntent(
                token=intent.token,
                member=intent.member,
                replica=intent.replica,
                carrier=intent.carrier,
                created_at=intent.created_at,
            )
        )
