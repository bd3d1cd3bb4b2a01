"""The rollout controller: a state machine over the plan's steps, driven by ``tick``.

Every ``check_interval_seconds`` a tick gathers the step's evidence and checks the gates:
- fail (or missing data): the consecutive-failure count rises; at ``max_failed_checks`` the
  controller rolls back by itself;
- marginal: once the step has its samples and bake time, the rollout pauses for a person;
- pass: the failure count resets; once the step has its samples and bake time, it promotes.
A person can promote, pause, resume or roll back at any time. Every decision, with the evidence
it was taken on, goes to the audit log. Time comes from ``clock`` so tests drive it.

Rollback stops new assignments at once: the routing becomes canary at weight 0 (the gateway picks
it up within its refresh interval). Under ``on_rollback = "finish"`` conversations pinned to
homeport finish there; under ``"evacuate"`` the ``evacuate`` hook (``homeport.rollout.evacuate``)
then moves them to the managed side, and once none is left the routing becomes passthrough. A
person can run the same evacuation after any rollback (``evacuate_pinned``). A plan asking for
evacuation without a hook is refused when the controller is made, never silently treated as
"finish".
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from homeport.config import ConfigError
from homeport.errors import Conflict
from homeport.gateway.seams import Mode
from homeport.rollout import state as st
from homeport.rollout.evacuate import EvacuationResult
from homeport.rollout.evidence import Evidence
from homeport.rollout.gates import Check, GateStatus, evaluate
from homeport.rollout.plan import RolloutPlan, Step
from homeport.store.db import Database
from homeport.store.models.rollout import RolloutDecision, RolloutState

CONTROLLER = "controller"


class EvidenceSource(Protocol):
    def collect(self, rollout: RolloutState, now: float) -> Evidence:
        """The evidence for the rollout's current step, up to ``now``."""
        ...


Evacuate = Callable[[], EvacuationResult]
"""Moves the rollout's conversations pinned to homeport to the managed side."""


@dataclass(frozen=True)
class Readiness:
    """Whether the step has baked long enough and seen enough traffic to be judged."""

    elapsed: float
    bake: float
    turns: int
    min_turns: int
    conversations: int
    min_conversations: int

    @property
    def ready(self) -> bool:
        return (
            self.elapsed >= self.bake
            and self.turns >= self.min_turns
            and self.conversations >= self.min_conversations
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ready": self.ready}


class Controller:
    def __init__(
        self,
        db: Database,
        plan: RolloutPlan,
        rollout_id: str,
        evidence: EvidenceSource,
        *,
        clock: Callable[[], float] = time.time,
        evacuate: Evacuate | None = None,
    ) -> None:
        self.db = db
        self.plan = plan
        self.rollout_id = rollout_id
        self.evidence = evidence
        self.clock = clock
        self.evacuate = evacuate
        if plan.on_rollback == "evacuate" and evacuate is None:
            raise ConfigError(
                "setting 'rollout.on_rollback': \"evacuate\" needs an evacuation hook: set "
                '[rollout.evacuation] (see docs/cutover.md) or use "finish"'
            )

    # -- reading -------------------------------------------------------------------------------
    def step(self, row: RolloutState) -> Step | None:
        if 0 <= row.step_index < len(self.plan.steps):
            return self.plan.steps[row.step_index]
        return None

    def readiness(self, row: RolloutState, evidence: Evidence, now: float) -> Readiness | None:
        step = self.step(row)
        if step is None:
            return None
        return Readiness(
            elapsed=now - row.step_started_at,
            bake=self.plan.bake(step),
            turns=evidence.candidate.requests,
            min_turns=self.plan.turns(step),
            conversations=evidence.conversations,
            min_conversations=self.plan.conversations(step),
        )

    # -- the loop ------------------------------------------------------------------------------
    def tick(self) -> RolloutDecision | None:
        """Check the gates if an interval has passed and act on the result (None: nothing due).

        Evidence is gathered before the row is locked (SQLite allows one writer, and scoring
        pending pairs writes); the decision is applied only if no other replica or person changed
        the rollout meanwhile.
        """
        now = self.clock()
        seen = st.current(self.db, self.rollout_id)
        if seen is None or seen.status != st.RUNNING:
            return None
        if now - (seen.last_check_at or seen.step_started_at) < self.plan.check_interval_seconds:
            return None
        evidence = self.evidence.collect(seen, now)
        check = evaluate(evidence, self.plan.gates)
        readiness = self.readiness(seen, evidence, now)
        assert readiness is not None  # a running rollout is always on a step
        with st.locked(self.db, self.rollout_id, now) as (session, row):
            if (row.version, row.status, row.last_check_at, row.failed_checks) != (
                seen.version,
                seen.status,
                seen.last_check_at,
                seen.failed_checks,
            ):
                return None
            decision = self._act_on(session, row, now, check, readiness, evidence)
        if decision.action == "rollback":
            self._after_rollback()
        return decision

    def _act_on(
        self,
        session: Any,
        row: RolloutState,
        now: float,
        check: Check,
        readiness: Readiness,
        evidence: Evidence,
    ) -> RolloutDecision:
        row.last_check_at = now
        proof = {
            "check": check.to_dict(),
            "evidence": evidence.summary(),
            "readiness": readiness.to_dict(),
        }
        status = check.status
        if status is GateStatus.FAIL:
            row.failed_checks += 1
            if row.failed_checks >= self.plan.max_failed_checks:
                reason = f"{row.failed_checks} failed checks in a row: {check.reason()}"
                return self._rollback(session, row, now, CONTROLLER, reason, proof)
            reason = (
                f"failed check {row.failed_checks}/{self.plan.max_failed_checks}: {check.reason()}"
            )
            return st.decide(
                session,
                row,
                now=now,
                action="check",
                actor=CONTROLLER,
                reason=reason,
                evidence=proof,
            )
        if status is GateStatus.MARGINAL and readiness.ready:
            return st.decide(
                session,
                row,
                now=now,
                action="pause",
                actor=CONTROLLER,
                reason=f"marginal, a person decides: {check.reason()}",
                evidence=proof,
                change=lambda r: _set(r, status=st.PAUSED, reason=check.reason()),
            )
        if status is GateStatus.PASS:
            row.failed_checks = 0
            if readiness.ready:
                return self._promote(session, row, now, CONTROLLER, "gates pass", proof)
        return st.decide(
            session,
            row,
            now=now,
            action="check",
            actor=CONTROLLER,
            reason=f"{_waiting(check)}; baking",
            evidence=proof,
        )

    # -- people --------------------------------------------------------------------------------
    def promote(self, actor: str, reason: str = "") -> RolloutDecision:
        """Start the rollout (from idle or after a rollback), or move to the next step now."""
        now = self.clock()
        proof = self._snapshot(now)
        with st.locked(self.db, self.rollout_id, now) as (session, row):
            if row.status == st.COMPLETED:
                raise Conflict(f"rollout {row.id!r} is complete: homeport serves everything")
            return self._promote(session, row, now, actor, reason or "promoted by hand", proof)

    def pause(self, actor: str, reason: str = "") -> RolloutDecision:
        now = self.clock()
        proof = self._snapshot(now)
        with st.locked(self.db, self.rollout_id, now) as (session, row):
            if row.status != st.RUNNING:
                raise Conflict(f"rollout {row.id!r} is {row.status}, not running: nothing to pause")
            text = reason or "paused by hand"
            return st.decide(
                session,
                row,
                now=now,
                action="pause",
                actor=actor,
                reason=text,
                evidence=proof,
                change=lambda r: _set(r, status=st.PAUSED, reason=text),
            )

    def resume(self, actor: str, reason: str = "") -> RolloutDecision:
        now = self.clock()
        proof = self._snapshot(now)
        with st.locked(self.db, self.rollout_id, now) as (session, row):
            if row.status != st.PAUSED:
                raise Conflict(f"rollout {row.id!r} is {row.status}, not paused: nothing to resume")
            return st.decide(
                session,
                row,
                now=now,
                action="resume",
                actor=actor,
                reason=reason or "resumed by hand",
                evidence=proof,
                change=lambda r: _set(
                    r, status=st.RUNNING, reason=None, failed_checks=0, last_check_at=now
                ),
            )

    def rollback(self, actor: str, reason: str = "") -> RolloutDecision:
        now = self.clock()
        proof = self._snapshot(now)
        with st.locked(self.db, self.rollout_id, now) as (session, row):
            if row.status in (st.IDLE, st.ROLLED_BACK):
                raise Conflict(f"rollout {row.id!r} is {row.status}: nothing to roll back")
            decision = self._rollback(
                session, row, now, actor, reason or "rolled back by hand", proof
            )
        self._after_rollback()
        return decision

    # -- transitions ---------------------------------------------------------------------------
    def _snapshot(self, now: float) -> dict[str, Any]:
        """The evidence a person acted on (read before the row is locked)."""
        row = st.current(self.db, self.rollout_id)
        if row is None or self.step(row) is None:
            return {}
        evidence = self.evidence.collect(row, now)
        return {
            "check": evaluate(evidence, self.plan.gates).to_dict(),
            "evidence": evidence.summary(),
        }

    def _promote(
        self,
        session: Any,
        row: RolloutState,
        now: float,
        actor: str,
        reason: str,
        proof: dict[str, Any],
    ) -> RolloutDecision:
        restart = row.status in (st.IDLE, st.ROLLED_BACK)
        index = 0 if restart else row.step_index + 1
        if index >= len(self.plan.steps):
            return st.decide(
                session,
                row,
                now=now,
                action="complete",
                actor=actor,
                reason=reason,
                evidence=proof,
                change=lambda r: _set(r, status=st.COMPLETED),
            )
        step = self.plan.steps[index]

        def change(r: RolloutState) -> None:
            if restart:
                _set(r, salt=secrets.token_hex(8), started_at=now)
            _set(
                r,
                status=st.RUNNING,
                step_index=index,
                mode=step.mode,
                weight=step.weight,
                phase=step.name,
                step_started_at=now,
                last_check_at=None,
                failed_checks=0,
                reason=None,
            )

        action = "start" if restart else "promote"
        return st.decide(
            session,
            row,
            now=now,
            action=action,
            actor=actor,
            reason=f"{reason}: now {step.name}",
            evidence=proof,
            change=change,
        )

    def _rollback(
        self,
        session: Any,
        row: RolloutState,
        now: float,
        actor: str,
        reason: str,
        proof: dict[str, Any],
    ) -> RolloutDecision:
        policy = self.plan.on_rollback
        return st.decide(
            session,
            row,
            now=now,
            action="rollback",
            actor=actor,
            reason=f"{reason} (pinned conversations: {policy})",
            evidence={**proof, "on_rollback": policy},
            change=lambda r: _set(
                r,
                status=st.ROLLED_BACK,
                mode=Mode.CANARY.value,
                weight=0.0,
                phase="rolled-back",
                reason=reason,
            ),
        )

    def _after_rollback(self) -> None:
        """Under ``evacuate``: move pinned conversations, then send everything to managed."""
        if self.evacuate is not None and self.plan.on_rollback == "evacuate":
            self._evacuate(self.evacuate, CONTROLLER, "on_rollback = evacuate")

    def evacuate_pinned(self, actor: str, reason: str = "") -> RolloutDecision:
        """Move conversations pinned to homeport to the managed side (after a rollback; a rerun
        resumes an interrupted evacuation)."""
        if self.evacuate is None:
            raise ConfigError(
                "setting 'rollout.evacuation': this controller has no evacuation hook: set "
                "[rollout.evacuation] (see docs/cutover.md)"
            )
        row = st.current(self.db, self.rollout_id)
        if row is None or row.status != st.ROLLED_BACK:
            status = row.status if row else st.IDLE
            raise Conflict(
                f"rollout {self.rollout_id!r} is {status}: roll back before evacuating, or new "
                "conversations keep reaching homeport"
            )
        return self._evacuate(self.evacuate, actor, reason or "evacuated by hand")

    def _evacuate(self, evacuate: Evacuate, actor: str, reason: str) -> RolloutDecision:
        result = evacuate()
        now = self.clock()
        summary = f"{reason}: {result.moved} conversations moved to the managed side"
        if result.complete:
            summary += ", none left on homeport"
        else:
            summary += f", {result.remaining} still on homeport ({result.failed} failed): rerun"
        with st.locked(self.db, self.rollout_id, now) as (session, row):
            passthrough = result.complete and row.status == st.ROLLED_BACK
            return st.decide(
                session,
                row,
                now=now,
                action="evacuate",
                actor=actor,
                reason=summary,
                evidence=result.to_dict(),
                change=(lambda r: _set(r, mode=Mode.PASSTHROUGH.value)) if passthrough else None,
            )


def _set(row: RolloutState, **values: Any) -> None:
    for key, value in values.items():
        setattr(row, key, value)


def _waiting(check: Check) -> str:
    if check.status is GateStatus.PASS:
        return "gates pass"
    return f"{check.status.value}: {check.reason()}"
