"""Fault injection end to end: a real gateway follows the rollout from the store while homeport's
model fails half its calls in canary; the controller rolls back by itself within the configured
number of checks, and the gateway stops sending new conversations to homeport."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from homeport.compare.comparators.base import Dependencies
from homeport.compare.pipeline import Pipeline
from homeport.rollout.collect import StoreEvidence
from homeport.rollout.controller import Controller
from homeport.rollout.plan import RolloutPlan
from homeport.rollout.state import decisions
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models.gateway import GatewaySideStats
from homeport.testing.scripted_model import ScriptedModelOptions
from tests.gateway.conftest import (  # noqa: F401 - fixtures used by name
    GatewayFactory,
    GatewayServer,
    candidate_model,
    managed_model,
    start_gateway,
    wait_for,
)
from tests.rollout.conftest import FakeClock

pytestmark = pytest.mark.slow


@pytest.fixture
def candidate_options() -> ScriptedModelOptions:
    return ScriptedModelOptions(persona="homeport", failure_rate=0.5, seed=3)


def converse(gateway: GatewayServer, first: int, count: int) -> dict[str, str]:
    """Start ``count`` new conversations; the side each went to."""
    sides = {}
    with gateway.client() as client:
        for n in range(first, first + count):
            key = f"conversation-{n}"
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="scripted",
                    messages=[{"role": "user", "content": f"hello {n}"}],
                    extra_headers={"homeport-conversation-key": key},
                )
                sides[key] = raw.headers["homeport-upstream"]
            except openai.InternalServerError as exc:
                sides[key] = exc.response.headers["homeport-upstream"]
    return sides


def homeport_requests(db: Database) -> int:
    with db.sessions() as session:
        return sum(r.requests for r in session.query(GatewaySideStats).filter_by(side="homeport"))


def test_candidate_failing_half_its_calls_is_rolled_back(
    database_url: str,
    start_gateway: GatewayFactory,  # noqa: F811
) -> None:
    db = Database(database_url)
    upgrade(db.engine)
    plan = RolloutPlan(
        steps=[50, 100],
        bake_seconds=600,
        min_turns=10,
        min_conversations=5,
        check_interval_seconds=60,
        max_failed_checks=3,
    )
    clock = FakeClock(time.time())
    controller = Controller(
        db, plan, "default", StoreEvidence(db, Pipeline.build(Dependencies())), clock=clock
    )
    try:
        controller.promote("ops", "canary straight away")
        gateway = start_gateway(
            routing="store", refresh_seconds=0.05, stats_seconds=0.1, shadow={"sink": "none"}
        )
        wait_for(
            lambda: httpx.get(gateway.url + "/healthz").json()["weight"] == 0.5,
            "the gateway to follow the rollout",
        )
        actions, seen = [], 0
        sides: dict[str, str] = {}
        for check in range(3):
            sides |= converse(gateway, 40 * check, 40)
            expected = sum(side == "homeport" for side in sides.values())
            wait_for(lambda n=expected: homeport_requests(db) >= n, "side stats")
            seen = homeport_requests(db)
            clock.advance(60)
            decision = controller.tick()
            assert decision is not None
            actions.append(decision.action)
        assert actions == ["check", "check", "rollback"]
        rollback = decisions(db, "default")[-1]
        gates = {g["gate"]: g for g in rollback.evidence["check"]["gates"]}
        assert gates["error_rate"]["status"] == "fail"
        assert 0.3 < gates["error_rate"]["observed"] < 0.7
        assert rollback.evidence["evidence"]["candidate"]["requests"] == seen
        # Within the gateway's refresh, new conversations go to the managed side only (threads
        # pinned to homeport stay there: pins win at any weight, see the gateway's canary tests).
        wait_for(
            lambda: httpx.get(gateway.url + "/healthz").json()["weight"] == 0.0,
            "the gateway to take the rollback",
        )
        assert set(converse(gateway, 1000, 20).values()) == {"managed"}
    finally:
        db.dispose()
