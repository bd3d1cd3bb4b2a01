"""Comparison records in the store: shadow pairs in, verdicts on, tallies out.

``store_sink`` is the gateway's pair sink (``STORE_SINK_FACTORY``): it stores each pair with both
answers already parsed, unscored. ``score_pending`` runs the comparator pipeline over unscored
records (the rollout controller calls it before every check). ``tally`` counts verdicts for the
gates. ``record_offline`` stores an offline comparison's turns and noise pairs, which is how a
rollout gets its noise floor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from homeport.compare.answers import Answer, Outcome, TurnContext
from homeport.compare.pipeline import Pipeline
from homeport.compare.wire import answer_of, context_of
from homeport.gateway.seams import ShadowPair, Upstream
from homeport.ids import new_id
from homeport.store.db import Database
from homeport.store.models.rollout import ComparisonRecord

SHADOW, OFFLINE, NOISE = "shadow", "offline", "noise"
NOT_COMPARABLE = "n/a"
SCORED = (Outcome.SAME.value, Outcome.DIFFERENT.value, Outcome.UNSURE.value)


def _context_dict(context: TurnContext) -> dict[str, Any]:
    return {"response_format": context.response_format, "tools": list(context.tools)}


def pair_row(pair: ShadowPair) -> dict[str, Any]:
    """The record of a shadow pair: baseline is the managed side's answer, whichever served."""
    managed, homeport = (
        (pair.primary, pair.candidate)
        if pair.side is Upstream.MANAGED
        else (pair.candidate, pair.primary)
    )
    context = context_of(pair.request)
    baseline, candidate = answer_of(managed), answer_of(homeport)
    comparable = baseline is not None and candidate is not None
    return {
        "id": pair.pair_id,
        "kind": SHADOW,
        "created_at": pair.created_at,
        "phase": pair.phase,
        "conversation_key": pair.conversation_key,
        "agent_id": context.agent_id,
        "question": context.question,
        "context": _context_dict(context),
        "baseline": baseline.to_dict() if baseline else {},
        "candidate": candidate.to_dict() if candidate else {},
        "baseline_error": not managed.ok,
        "candidate_error": not homeport.ok,
        "outcome": None if comparable else NOT_COMPARABLE,
        "scored_at": None if comparable else pair.created_at,
        "verdicts": [],
        "raw": pair.to_dict(),
    }


@dataclass
class StorePairSink:
    db: Database
    rollout_id: str  # the gateway's name: several gateways may share one database

    def _insert(self, pairs: Sequence[ShadowPair]) -> None:
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        rows = [{**pair_row(pair), "rollout_id": self.rollout_id} for pair in pairs]
        with self.db.session() as session:
            session.execute(
                insert(ComparisonRecord).values(rows).on_conflict_do_nothing(index_elements=["id"])
            )

    async def write(self, pairs: Sequence[ShadowPair]) -> None:
        if pairs:
            await asyncio.to_thread(self._insert, pairs)


def store_sink(db: Database, gateway: str) -> StorePairSink:
    return StorePairSink(db, gateway)


def score_pending(db: Database, pipeline: Pipeline, *, limit: int = 1000) -> int:
    """Score up to ``limit`` unscored records, oldest first; returns how many were scored.

    Replicas may score concurrently: PostgreSQL hands each its own rows (SKIP LOCKED); SQLite
    serialises writers anyway.
    """
    with db.session() as session:
        query = (
            select(ComparisonRecord)
            .where(ComparisonRecord.scored_at.is_(None))
            .order_by(ComparisonRecord.seq)
            .limit(limit)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.scalars(query).all()
        now = time.time()
        for row in rows:
            context = TurnContext(
                question=row.question,
                response_format=row.context.get("response_format"),
                tools=tuple(row.context.get("tools") or ()),
                agent_id=row.agent_id,
            )
            judgement = pipeline.judge(
                Answer.from_dict(row.baseline), Answer.from_dict(row.candidate), context
            )
            row.outcome = judgement.outcome.value
            row.decided_by = judgement.decided_by
            row.verdicts = judgement.to_dict()["verdicts"]
            row.scored_at = now
        return len(rows)


@dataclass(frozen=True)
class Tally:
    pairs: int
    disagreements: int


def tally(
    db: Database,
    *,
    kind: str,
    since: float | None = None,
    rollout_id: str | None = None,
) -> Tally:
    """Scored records of ``kind`` (from ``since``; of ``rollout_id``) and how many disagreed."""
    disagree = func.sum(case((ComparisonRecord.outcome != Outcome.SAME.value, 1), else_=0))
    query = select(func.count(), disagree).where(
        ComparisonRecord.kind == kind, ComparisonRecord.outcome.in_(SCORED)
    )
    if since is not None:
        query = query.where(ComparisonRecord.created_at >= since)
    if rollout_id is not None:
        query = query.where(ComparisonRecord.rollout_id == rollout_id)
    with db.sessions() as session:
        count, different = session.execute(query).one()
    return Tally(int(count or 0), int(different or 0))


def conversations_since(db: Database, *, kind: str, since: float, rollout_id: str) -> int:
    """Distinct conversations among the rollout's records of ``kind`` created from ``since``."""
    with db.sessions() as session:
        return int(
            session.scalar(
                select(func.count(func.distinct(ComparisonRecord.conversation_key))).where(
                    ComparisonRecord.kind == kind,
                    ComparisonRecord.rollout_id == rollout_id,
                    ComparisonRecord.created_at >= since,
                    ComparisonRecord.conversation_key.is_not(None),
                )
            )
            or 0
        )


def record_offline(db: Database, rollout_id: str, results: Iterable[dict[str, Any]]) -> int:
    """Store an offline comparison's turns (kind ``offline``) and noise pairs (kind ``noise``)."""
    now = time.time()
    stored = 0
    with db.session() as session:
        for row in results:
            judgement = row["judgement"]
            common = {
                "rollout_id": rollout_id,
                "created_at": now,
                "phase": "offline",
                "conversation_key": row["conversation_id"],
                "agent_id": row["agent_id"],
                "question": row["question"],
                "context": row.get("context") or {},
                "scored_at": now,
            }
            session.add(
                ComparisonRecord(
                    id=new_id("cmp"),
                    kind=OFFLINE,
                    baseline=row["baseline"],
                    candidate=row["candidate"],
                    baseline_error=bool(row["baseline"].get("error")),
                    candidate_error=bool(row["candidate"].get("error")),
                    outcome=judgement["outcome"],
                    decided_by=judgement["decided_by"],
                    verdicts=judgement["verdicts"],
                    **common,
                )
            )
            stored += 1
            if row.get("noise"):
                session.add(
                    ComparisonRecord(
                        id=new_id("cmp"),
                        kind=NOISE,
                        outcome=row["noise"]["outcome"],
                        decided_by=row["noise"]["decided_by"],
                        verdicts=row["noise"]["verdicts"],
                        **common,
                    )
                )
                stored += 1
    return stored
