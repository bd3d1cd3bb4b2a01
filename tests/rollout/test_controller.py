"""The controller end to end on a real store with a fake clock: promotion through the steps,
automatic rollback after repeated failed checks, a pause on a marginal result, and agreement
between replicas."""

from __future__ import annotations

import pytest

from homeport.config import ConfigError
from homeport.errors import Conflict
from homeport.gateway.seams import Mode
from homeport.rollout.collect import StoreEvidence
from homeport.rollout.controller import Controller
from homeport.rollout.evacuate import EvacuationResult
from homeport.rollout.state import current, decisions, store_routing
from homeport.store.db import Database
from tests.rollout.conftest import (
    ROLLOUT,
    FakeClock,
    Gateway,
    healthy_minute,
    make_controller,
    make_plan,
)


def test_promotes_through_every_step_when_gates_pass(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    controller = make_controller(db, clock)
    gateway.noise_floor(ROLLOUT)
    assert store_routing(db, ROLLOUT).read() is None
    controller.promote("alice", "offline comparison looked good")
    seen = []
    for _ in range(40):
        state = store_routing(db, ROLLOUT).read()
        assert state is not None
        if not seen or seen[-1] != (state.phase, state.mode, state.weight):
            seen.append((state.phase, state.mode, state.weight))
        healthy_minute(gateway, controller)
    assert seen == [
        ("shadow", Mode.SHADOW, 0.0),
        ("canary-5", Mode.CANARY, 0.05),
        ("full", Mode.FULL, 1.0),
    ]
    log = decisions(db, ROLLOUT, 1000)
    actions = [d.action for d in log if d.action != "check"]
    assert actions == ["start", "promote", "promote", "complete"]
    promotion = next(d for d in log if d.action == "promote")
    # No promotion before the bake time, and with the evidence that justified it.
    assert promotion.at - log[0].at >= 300
    assert promotion.evidence["check"]["status"] == "pass"
    assert promotion.evidence["readiness"]["ready"] is True
    assert controller.tick() is None  # complete: nothing more to do


def test_rolls_back_by_itself_after_three_failed_checks(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    controller = make_controller(db, clock, make_plan(steps=[5, 100]))
    gateway.noise_floor(ROLLOUT)
    gateway.pairs("shadow", same=50)  # equivalence was established in an earlier shadow phase
    controller.promote("alice")
    before = store_routing(db, ROLLOUT).read()
    assert before is not None and before.mode is Mode.CANARY and before.weight == 0.05
    outcomes = []
    for _ in range(3):
        clock.advance(60)
        gateway.window("canary-5", candidate_errors=50)  # homeport fails half its calls
        gateway.pins(5)
        decision = controller.tick()
        assert decision is not None
        outcomes.append(decision.action)
    assert outcomes == ["check", "check", "rollback"]
    after = store_routing(db, ROLLOUT).read()
    assert after is not None
    assert (after.mode, after.weight, after.phase) == (Mode.CANARY, 0.0, "rolled-back")
    assert after.version > before.version
    rollback = decisions(db, ROLLOUT)[-1]
    assert rollback.actor == "controller"
    assert "3 failed checks in a row" in rollback.reason
    gate = next(g for g in rollback.evidence["check"]["gates"] if g["gate"] == "error_rate")
    assert gate["status"] == "fail" and gate["observed"] == pytest.approx(0.5)
    clock.advance(600)
    assert controller.tick() is None  # rolled back: the controller stops


def test_missing_data_counts_as_a_failed_check(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    controller = make_controller(db, clock)
    controller.promote("alice")
    actions = []
    for _ in range(3):
        clock.advance(60)  # the gateway writes nothing: no stats, no pairs, no noise floor
        decision = controller.tick()
        assert decision is not None
        actions.append(decision.action)
    assert actions == ["check", "check", "rollback"]
    gates = decisions(db, ROLLOUT)[-1].evidence["check"]["gates"]
    statuses = {g["gate"]: g["status"] for g in gates}
    assert statuses["error_rate"] == "missing" and statuses["equivalence"] == "missing"


def test_a_passing_check_resets_the_failure_count(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    """Gates judge the whole step so far; the count of failed checks in a row resets on a pass."""
    controller = make_controller(db, clock, make_plan(steps=[5, 100], bake_seconds=3600))
    gateway.noise_floor(ROLLOUT)
    gateway.pairs("shadow", same=50)
    controller.promote("alice")
    counts = []
    for errors in (3, 0, 0, 0):  # 3/100 fails, 3/200 is marginal, 3/300 and 3/400 pass
        clock.advance(60)
        gateway.window("canary-5", candidate_errors=errors)
        decision = controller.tick()
        assert decision is not None and decision.action == "check"
        row = current(db, ROLLOUT)
        assert row is not None
        counts.append(row.failed_checks)
    assert counts == [1, 1, 0, 0]


def test_pauses_for_a_person_on_a_marginal_result(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    controller = make_controller(db, clock, make_plan(steps=[5, 100]))
    gateway.noise_floor(ROLLOUT)
    gateway.pairs("shadow", same=50)
    controller.promote("alice")
    actions = []
    for _ in range(5):
        clock.advance(60)
        # 1.3% errors against a 1% limit: over, but not surely over.
        gateway.window("canary-5", requests=300, candidate_errors=4)
        gateway.pins(5)
        decision = controller.tick()
        assert decision is not None
        actions.append(decision.action)
    # Marginal while baking is no reason to stop; once the step could promote, a person decides.
    assert actions == ["check", "check", "check", "check", "pause"]
    assert "marginal" in decisions(db, ROLLOUT)[-1].reason
    state = store_routing(db, ROLLOUT).read()
    assert state is not None and state.weight == 0.05  # paused holds the weight
    clock.advance(600)
    assert controller.tick() is None  # paused: no checks
    with pytest.raises(Conflict):
        controller.pause("bob")
    resumed = controller.resume("bob", "one noisy minute, accepted")
    assert resumed.actor == "bob"
    promoted = controller.promote("bob", "accepted by hand")
    assert promoted.phase_after == "full"


def test_replicas_take_one_decision_per_interval(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    first, second = make_controller(db, clock), make_controller(db, clock)
    gateway.noise_floor(ROLLOUT)
    first.promote("alice")
    clock.advance(60)
    gateway.window("shadow")
    gateway.pairs("shadow")
    assert first.tick() is not None
    assert second.tick() is None
    assert [d.action for d in decisions(db, ROLLOUT)] == ["start", "check"]


def test_manual_rollback_and_restart_draw_a_fresh_split(
    db: Database, clock: FakeClock, gateway: Gateway
) -> None:
    controller = make_controller(db, clock)
    controller.promote("alice")
    controller.promote("alice", "skip shadow")
    salt = store_routing(db, ROLLOUT).read()
    controller.rollback("bob", "customer complaint")
    with pytest.raises(Conflict):
        controller.rollback("bob")
    restarted = controller.promote("alice", "fixed")
    assert restarted.action == "start"
    state = store_routing(db, ROLLOUT).read()
    assert salt is not None and state is not None
    assert state.phase == "shadow" and state.salt != salt.salt


def test_evacuation_moves_pinned_conversations_then_passes_everything_through(
    db: Database, clock: FakeClock
) -> None:
    results = [
        EvacuationResult(moved=5, failed=2, remaining=2),
        EvacuationResult(moved=2, failed=0, remaining=0),
    ]
    calls: list[int] = []

    def evacuate() -> EvacuationResult:
        calls.append(1)
        return results[len(calls) - 1]

    plan = make_plan(
        on_rollback="evacuate",
        evacuation={"managed_base_url": "http://managed/v1", "homeport_base_url": "http://hp/v1"},
    )
    with pytest.raises(ConfigError, match="evacuat"):
        Controller(db, plan, ROLLOUT, StoreEvidence(db), clock=clock)
    controller = Controller(db, plan, ROLLOUT, StoreEvidence(db), clock=clock, evacuate=evacuate)
    controller.promote("alice")
    controller.promote("alice")
    with pytest.raises(Conflict, match="roll back"):
        controller.evacuate_pinned("bob")  # still running: homeport still gets new conversations
    controller.rollback("bob", "incident")
    # Two conversations failed: the routing stays canary at weight 0 until a rerun moves them.
    first = decisions(db, ROLLOUT)[-1]
    assert (first.action, first.evidence["remaining"]) == ("evacuate", 2)
    assert "rerun" in first.reason
    state = store_routing(db, ROLLOUT).read()
    assert state is not None and (state.mode, state.weight) == (Mode.CANARY, 0.0)
    rerun = controller.evacuate_pinned("bob")
    assert rerun.evidence["complete"] and "none left on homeport" in rerun.reason
    assert [d.action for d in decisions(db, ROLLOUT)][-3:] == ["rollback", "evacuate", "evacuate"]
    state = store_routing(db, ROLLOUT).read()
    assert state is not None and (state.mode, state.weight) == (Mode.PASSTHROUGH, 0.0)
