"""Gathering a check's evidence from the store: the gateway's side stats, answer pairs, pins.

- traffic per side: the gateway's ``SideStats`` windows of the current phase since the step began;
  when the managed side had none in the step (full weight), its windows since the rollout began
  serve as the baseline;
- answer pairs: shadow pairs since the rollout began (pairs exist only in shadow mode, and
  equivalence is a property of the candidate, not of the weight), scored first if pending;
- noise floor: the rollout's noise records (``homeport compare --record``);
- conversations: in shadow, distinct conversations among the step's pairs; in canary and full,
  conversations pinned to homeport since the step began.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from homeport.compare.pipeline import Pipeline
from homeport.compare.records import NOISE, SHADOW, conversations_since, score_pending, tally
from homeport.gateway.seams import Mode, Upstream
from homeport.gateway.sidestats import read_side_stats
from homeport.rollout.evidence import Evidence, side_evidence
from homeport.store.db import Database
from homeport.store.models.gateway import GatewayPin
from homeport.store.models.rollout import RolloutState


@dataclass
class StoreEvidence:
    db: Database
    pipeline: Pipeline | None = None

    def _pinned(self, gateway: str, since: float) -> int:
        with self.db.sessions() as session:
            return int(
                session.scalar(
                    select(func.count(func.distinct(GatewayPin.conversation))).where(
                        GatewayPin.gateway == gateway,
                        GatewayPin.side == Upstream.HOMEPORT.value,
                        GatewayPin.created_at >= since,
                    )
                )
                or 0
            )

    def collect(self, rollout: RolloutState, now: float) -> Evidence:
        if self.pipeline is not None:
            score_pending(self.db, self.pipeline)
        stats = [
            s
            for s in read_side_stats(self.db, since=rollout.step_started_at)
            if s.phase == rollout.phase and s.window_start < now
        ]
        pairs = tally(self.db, kind=SHADOW, since=rollout.started_at, rollout_id=rollout.id)
        noise = tally(self.db, kind=NOISE, rollout_id=rollout.id)
        if rollout.mode == Mode.SHADOW.value:
            conversations = conversations_since(
                self.db, kind=SHADOW, since=rollout.step_started_at, rollout_id=rollout.id
            )
        else:
            conversations = self._pinned(rollout.id, rollout.step_started_at)
        managed = side_evidence(stats, Upstream.MANAGED.value)
        if managed.requests == 0:
            # At full weight the managed side gets no new traffic: judge homeport against the
            # managed baseline seen earlier in this rollout instead of calling it missing data.
            history = [
                s
                for s in read_side_stats(self.db, since=rollout.started_at)
                if s.window_start < now
            ]
            managed = side_evidence(history, Upstream.MANAGED.value)
        return Evidence(
            managed=managed,
            candidate=side_evidence(stats, Upstream.HOMEPORT.value),
            conversations=conversations,
            pairs=pairs.pairs,
            disagreements=pairs.disagreements,
            noise_pairs=noise.pairs,
            noise_disagreements=noise.disagreements,
        )
